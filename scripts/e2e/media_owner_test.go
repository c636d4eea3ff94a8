package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// TestAccountCannotGetALinkToAnotherAccountsMedia reproduces the reported
// leak with the real services: account B's recordings are in the media
// bucket (one uploaded through ingest, one put over NATS as the docs used
// to say), and account A's PBX sends media events naming them. A must get
// no link that serves B's file: its events are refused as naming no file,
// exactly as for a file that does not exist.
func TestAccountCannotGetALinkToAnotherAccountsMedia(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	js := st.JS
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()
	const acctA, acctB = "acct-a", "acct-b"
	for _, acct := range []string{acctA, acctB} {
		st.CreateHook(t, acct, apiclient.HookDocument{
			Name: "Media", Uri: target.URL + "/" + acct, Hook: apiclient.HookKindMedia, Format: new(apiclient.PayloadFormatJson),
		})
	}

	uploadedB := uploadMedia(t, st, acctB, "B's uploaded recording")
	obs, err := bus.EnsureMediaBucket(t.Context(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	const putB = "b-put-over-nats"
	if _, err := obs.Put(t.Context(), jetstream.ObjectMeta{Name: putB}, strings.NewReader("B's recording put over NATS")); err != nil {
		t.Fatal(err)
	}
	for i, mediaID := range []string{uploadedB, putB, "never-stored"} {
		ev := fmt.Sprintf(`{"event":"call_recording","id":"a-claims-%d","media_id":%q,"call_id":"a-call-%d"}`, i, mediaID, i)
		if _, err := js.Publish(t.Context(), "pbx.events."+acctA, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}

	// Either A's three events are refused (dead-lettered for A) or A's hook
	// gets a callback: then the link it carries is the leak.
	api := st.Client(t)
	var letters []apiclient.DeadLetter
	testenv.Eventually(t, 30*time.Second, "A's media events to be refused", func() bool {
		for _, c := range recv.Calls() {
			if c.Header.Get("X-Account-ID") != acctA {
				continue
			}
			var body map[string]any
			_ = json.Unmarshal(c.Body, &body)
			link, _ := body["attachments"].(string)
			status, served := download(t, link)
			t.Fatalf("account A got a media callback %s; its link %q answers %d %q", c.Body, link, status, served)
		}
		listed, err := api.ListDeadLettersWithResponse(t.Context(), acctA, nil)
		if err != nil || listed.JSON200 == nil {
			return false
		}
		letters = listed.JSON200.Data
		return len(letters) == 3
	})
	reasons := map[string]bool{}
	for _, l := range letters {
		var ev struct {
			MediaID string `json:"media_id"`
		}
		_ = json.Unmarshal([]byte(l.Body), &ev)
		reasons[strings.Replace(l.Reason, ev.MediaID, "<id>", 1)] = true
	}
	if len(reasons) != 1 {
		t.Errorf("A's refusals differ between B's files and a missing one (they must not tell them apart): %v", reasons)
	}
	for r := range reasons {
		if !strings.Contains(r, "names no file") {
			t.Errorf("refusal %q, want the missing-file answer", r)
		}
	}
	for _, c := range recv.Calls() {
		if c.Header.Get("X-Account-ID") == acctA {
			t.Fatalf("account A got a callback: %s", c.Body)
		}
	}
}

// uploadMedia uploads a call recording for account through ingest and
// returns its media id.
func uploadMedia(t *testing.T, st *teststack.Stack, account, content string) string {
	t.Helper()
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	_ = form.WriteField("type", "call_recording")
	_ = form.WriteField("call_id", "call-"+account)
	part, err := form.CreateFormFile("file", "rec.mp3")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(part, content)
	_ = form.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, st.URL("ingest")+"/v1/accounts/"+account+"/media", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", form.FormDataContentType())
	req.Header.Set("X-Auth-Token", st.Cfg.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			MediaID string `json:"media_id"`
		} `json:"data"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &out) != nil || out.Data.MediaID == "" {
		t.Fatalf("upload for %s: %d %s", account, resp.StatusCode, raw)
	}
	return out.Data.MediaID
}

// download GETs a media link and returns the status and body.
func download(t *testing.T, link string) (int, []byte) {
	t.Helper()
	if link == "" {
		return 0, nil
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body
}
