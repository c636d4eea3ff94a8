package webhooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/iostreams"
)

// documentOf parses args as create's flags and returns the document sent.
func documentOf(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	var d documentFlags
	cmd := &cobra.Command{Use: "create"}
	d.register(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	streams, _, _, _ := iostreams.Test()
	return d.document(factory.New(streams, func(string) (string, bool) { return "", false }), cmd.Flags())
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDocumentHasOnlyTheFlagsGiven(t *testing.T) {
	t.Parallel()
	doc, err := documentOf(t, "--name", "Missed", "--hook", "call", "--call-type", "incoming_call",
		"--status", "missed", "--status", "busy,no_answer", "--uri", "https://x.example/h", "--retries", "0")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"call_statuses":["missed","busy","no_answer"],"call_types":["incoming_call"],"hook":"call","name":"Missed","retries":0,"uri":"https://x.example/h"}`
	if got := asJSON(t, doc); got != want {
		t.Errorf("document\n got %s\nwant %s", got, want)
	}
}

func TestDocumentEmptyListMeansAny(t *testing.T) {
	t.Parallel()
	doc, err := documentOf(t, "--status", "", "--enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	if got := asJSON(t, doc); got != `{"call_statuses":[],"enabled":false}` {
		t.Errorf("got %s", got)
	}
}

func TestDocumentCustomData(t *testing.T) {
	t.Parallel()
	doc, err := documentOf(t, "--custom-data-json", `{"n":1,"screen_pop":true}`, "--custom-data", "crm=42", "--custom-data", "eq=a=b")
	if err != nil {
		t.Fatal(err)
	}
	if got := asJSON(t, doc); got != `{"custom_data":{"crm":"42","eq":"a=b","n":1,"screen_pop":true}}` {
		t.Errorf("got %s", got)
	}
	for _, bad := range [][]string{{"--custom-data", "novalue"}, {"--custom-data", "=x"}, {"--custom-data-json", "[1]"}} {
		if _, err := documentOf(t, bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestDocumentFromFileWithFlagsOnTop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"bare.json":    `{"name":"From file","hook":"media","media_types":["voicemail"],"uri":"https://a.example"}`,
		"wrapped.json": `{"data":{"name":"From file","hook":"media","media_types":["voicemail"],"uri":"https://a.example"}}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		doc, err := documentOf(t, "--file", path, "--uri", "https://b.example")
		if err != nil {
			t.Fatal(err)
		}
		want := `{"hook":"media","media_types":["voicemail"],"name":"From file","uri":"https://b.example"}`
		if got := asJSON(t, doc); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`["not an object"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := documentOf(t, "--file", broken); err == nil {
		t.Error("a JSON array was accepted as a hook document")
	}
}
