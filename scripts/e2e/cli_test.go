package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/scripts/internal/clirun"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// The CLI's documented exit codes (pbxhooks --help).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitAuth        = 3
	exitNotFound    = 4
	exitUnreachable = 5
	exitRejected    = 6
)

// cliRig is one running stack, a receiver, and the CLI pointed at both
// through its environment variables, as a CI job would use it.
type cliRig struct {
	st      *teststack.Stack
	recv    *teststack.Receiver
	target  *httptest.Server
	bin     *clirun.CLI
	cli     *clirun.CLI
	account string
}

func startCLIRig(t *testing.T) *cliRig {
	t.Helper()
	st := teststack.Start(t, teststack.Options{})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	t.Cleanup(target.Close)
	bin := clirun.Build(t)
	const account = "acct-cli"
	cli := bin.With(
		"PBXHOOKS_API_URL="+st.URL("api"), "PBXHOOKS_INGEST_URL="+st.URL("ingest"),
		"PBXHOOKS_TOKEN="+st.Cfg.AdminToken, "PBXHOOKS_ACCOUNT="+account,
	)
	return &cliRig{st: st, recv: recv, target: target, bin: bin, cli: cli, account: account}
}

// createHook creates a hook through the API (not the CLI) and returns its
// id and secret.
func (r *cliRig) createHook(t *testing.T, doc string) (id, secret string) {
	t.Helper()
	var created struct {
		Data struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		} `json:"data"`
	}
	if status := r.st.API(t, http.MethodPut, "/v1/accounts/"+r.account+"/webhooks", `{"data":`+doc+`}`, &created); status != http.StatusCreated {
		t.Fatalf("create hook %s: status %d", doc, status)
	}
	return created.Data.ID, created.Data.Secret
}

// callbacksTo waits for n callbacks to path and returns them.
func (r *cliRig) callbacksTo(t *testing.T, path string, n int) []teststack.Callback {
	t.Helper()
	var got []teststack.Callback
	testenv.Eventually(t, 60*time.Second, path+" callbacks", func() bool {
		got = got[:0]
		for _, c := range r.recv.Calls() {
			if c.Path == path {
				got = append(got, c)
			}
		}
		return len(got) >= n
	})
	return got
}

func TestCLILoginAndTrigger(t *testing.T) {
	r := startCLIRig(t)

	t.Run("login checks the token and saves a 0600 profile later commands use", func(t *testing.T) {
		fresh := r.bin // no PBXHOOKS_* environment at all
		doc := fresh.ErrorJSON(t, exitAuth, "login", "--api", r.st.URL("api"), "--account", r.account, "--token", "wrong-token")
		if doc.Error.Kind != "auth" || doc.Error.Status != http.StatusUnauthorized {
			t.Errorf("bad token: %+v", doc.Error)
		}
		if _, err := os.Stat(fresh.ProfilePath()); !os.IsNotExist(err) {
			t.Fatalf("a refused login saved a profile: %v", err)
		}
		var saved struct {
			Profile  string `json:"profile"`
			Verified bool   `json:"verified"`
		}
		res := fresh.Run(t, r.st.Cfg.AdminToken+"\n", "login", "--profile", "stack", "--api", r.st.URL("api"),
			"--ingest", r.st.URL("ingest"), "--account", r.account, "--with-token", "--output", "json")
		if res.Code != exitOK {
			t.Fatalf("login: exit %d: %s", res.Code, res.Stderr)
		}
		if err := json.Unmarshal([]byte(res.Stdout), &saved); err != nil || saved.Profile != "stack" || !saved.Verified {
			t.Fatalf("login printed %s (%v)", res.Stdout, err)
		}
		info, err := os.Stat(fresh.ProfilePath())
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("profile file mode %o, want 600", info.Mode().Perm())
		}
		// Everything from the profile: no flag, no environment.
		res = fresh.Run(t, `{"event":"channel_create","call_id":"login-1","direction":"inbound","from":"100","to":"200"}`, "events", "send", "-")
		if res.Code != exitOK || !strings.Contains(res.Stdout, "1 accepted") {
			t.Errorf("events send with the saved profile: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
	})

	t.Run("events send", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "event.json")
		body := `[{"event":"channel_create","call_id":"send-1","direction":"inbound","from":"100","to":"200"},{"event":"channel_create"}]`
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		res := r.cli.Run(t, "", "events", "send", path, "--output", "json")
		var accepted struct {
			IDs      []string `json:"ids"`
			Rejected []struct {
				Index int `json:"index"`
			} `json:"rejected"`
		}
		if err := json.Unmarshal([]byte(res.Stdout), &accepted); err != nil {
			t.Fatalf("stdout %q: %v", res.Stdout, err)
		}
		if res.Code != exitRejected || len(accepted.IDs) != 1 || len(accepted.Rejected) != 1 || accepted.Rejected[0].Index != 1 {
			t.Errorf("half-valid batch: exit %d, answer %+v", res.Code, accepted)
		}
		doc := r.cli.ErrorJSON(t, exitFailure, "events", "send", "-") // empty stdin is not JSON
		if doc.Error.Kind != "failure" || !strings.Contains(doc.Error.Message, "not JSON") {
			t.Errorf("empty input: %+v", doc.Error)
		}
		doc = r.cli.ErrorJSON(t, exitRejected, "events", "send", path, "--account", "bad.account")
		if doc.Error.Status != http.StatusBadRequest {
			t.Errorf("invalid account id: %+v", doc.Error)
		}
		doc = r.cli.ErrorJSON(t, exitAuth, "events", "send", path, "--token", "wrong-token")
		if doc.Error.Status != http.StatusUnauthorized {
			t.Errorf("bad token: %+v", doc.Error)
		}
	})

	t.Run("trigger produces the documented statuses at a receiver", func(t *testing.T) {
		r.createHook(t, `{"name":"spoke calls","uri":"`+r.target.URL+`/trigger-spoke","hook":"call","format":"json"}`)
		r.createHook(t, `{"name":"spoke media","uri":"`+r.target.URL+`/trigger-media","hook":"media","format":"json"}`)
		type triggered struct {
			Scenario  string `json:"scenario"`
			CallID    string `json:"call_id"`
			ThreadID  string `json:"thread_id"`
			Direction string `json:"direction"`
			Callbacks []struct {
				Kind      string `json:"kind"`
				Lifecycle string `json:"lifecycle"`
				CallType  string `json:"call_type"`
				Status    string `json:"status"`
				MediaType string `json:"media_type"`
			} `json:"callbacks"`
		}
		// What the CLI's help documents, per scenario: the Spoke
		// type/subtype of each call callback and the media types.
		want := map[string][]string{
			"missed-call":    {"incoming_call/ringing", "incoming_call/missed"},
			"answered-call":  {"incoming_call/ringing", "incoming_call/answered", "incoming_call/ended"},
			"busy":           {"incoming_call/ringing", "incoming_call/busy"},
			"no-answer":      {"incoming_call/ringing", "incoming_call/no_answer"},
			"voicemail":      {"incoming_call/ringing", "incoming_call/missed", "media/voicemail"},
			"call-recording": {"incoming_call/ringing", "incoming_call/answered", "incoming_call/ended", "media/call_recording"},
		}
		threads := map[string]string{}
		total := map[string]int{}
		for _, name := range slices.Sorted(maps.Keys(want)) {
			var got triggered
			r.cli.JSON(t, &got, "trigger", name, "--from", "+15551230000", "--to", "5010")
			if got.Scenario != name || got.Direction != event.DirectionInbound || !strings.HasPrefix(got.ThreadID, "test-") {
				t.Errorf("trigger %s printed %+v", name, got)
			}
			threads[got.ThreadID] = name
			for _, cb := range got.Callbacks {
				if cb.Kind == event.KindMedia {
					total["/trigger-media"]++
				} else {
					total["/trigger-spoke"]++
				}
			}
		}
		var outbound triggered
		r.cli.JSON(t, &outbound, "trigger", "missed-call", "--direction", "outbound")
		threads[outbound.ThreadID] = "missed-call outbound"
		want["missed-call outbound"] = []string{"outgoing_call/ringing", "outgoing_call/no_answer"}
		total["/trigger-spoke"] += len(outbound.Callbacks)

		got := map[string][]string{}
		for path, n := range total {
			for _, c := range r.callbacksTo(t, path, n) {
				var body map[string]any
				if err := json.Unmarshal(c.Body, &body); err != nil {
					t.Fatalf("callback %s: %s", path, c.Body)
				}
				thread, _ := body["thread_id"].(string)
				name, ok := threads[thread]
				if !ok {
					t.Errorf("callback for a thread no trigger made: %s", c.Body)
					continue
				}
				if path == "/trigger-media" {
					got[name] = append(got[name], "media/"+body["type"].(string))
					if from, _ := body["from"].(string); from != "+15551230000" {
						t.Errorf("%s media callback from %q, want the --from override", name, from)
					}
					continue
				}
				got[name] = append(got[name], body["type"].(string)+"/"+body["subtype"].(string))
			}
		}
		for name, statuses := range want {
			if g := sorted(got[name]); !slices.Equal(g, sorted(statuses)) {
				t.Errorf("%s: callbacks %v, want %v", name, g, sorted(statuses))
			}
		}
	})

	t.Run("trigger errors", func(t *testing.T) {
		r.cli.Must(t, exitUsage, "trigger", "no-such-scenario")
		r.cli.Must(t, exitUsage, "trigger", "busy", "--direction", "sideways")
		doc := r.cli.ErrorJSON(t, exitAuth, "trigger", "busy", "--token", "wrong-token")
		if doc.Error.Status != http.StatusUnauthorized {
			t.Errorf("bad token: %+v", doc.Error)
		}
		down, err := stack.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		doc = r.cli.ErrorJSON(t, exitUnreachable, "trigger", "busy", "--ingest", "http://"+down)
		if doc.Error.Kind != "unreachable" || !strings.Contains(doc.Error.Message, down) {
			t.Errorf("ingest down: %+v", doc.Error)
		}
	})

	t.Run("signature verify accepts a real callback and refuses a tampered one", func(t *testing.T) {
		_, secret := r.createHook(t, `{"name":"signed","uri":"`+r.target.URL+`/signed","hook":"channel_destroy","format":"json"}`)
		r.cli.Must(t, exitOK, "trigger", "busy")
		cb := r.callbacksTo(t, "/signed", 1)[0]
		dir := t.TempDir()
		var headers strings.Builder
		for name, values := range cb.Header {
			for _, v := range values {
				headers.WriteString(name + ": " + v + "\r\n")
			}
		}
		headersFile, bodyFile := filepath.Join(dir, "headers.txt"), filepath.Join(dir, "body.json")
		if err := os.WriteFile(headersFile, []byte(headers.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bodyFile, cb.Body, 0o600); err != nil {
			t.Fatal(err)
		}
		var valid struct {
			Valid     bool   `json:"valid"`
			WebhookID string `json:"webhook_id"`
		}
		r.cli.JSON(t, &valid, "signature", "verify", "--secret", secret, "--headers-file", headersFile, "--body-file", bodyFile)
		if !valid.Valid || valid.WebhookID != cb.Header.Get("webhook-id") {
			t.Errorf("verify printed %+v for webhook-id %s", valid, cb.Header.Get("webhook-id"))
		}
		if err := os.WriteFile(bodyFile, append(cb.Body, ' '), 0o600); err != nil {
			t.Fatal(err)
		}
		doc := r.cli.ErrorJSON(t, exitFailure, "signature", "verify", "--secret", secret, "--headers-file", headersFile, "--body-file", bodyFile)
		if !strings.Contains(doc.Error.Message, "no signature matches") {
			t.Errorf("tampered body: %+v", doc.Error)
		}
	})
}

func TestCLIWebhooksAndAttempts(t *testing.T) {
	r := startCLIRig(t)
	type hook struct {
		ID            string   `json:"id"`
		Name          string   `json:"name"`
		URI           string   `json:"uri"`
		Hook          string   `json:"hook"`
		CallTypes     []string `json:"call_types"`
		CallStatuses  []string `json:"call_statuses"`
		Enabled       bool     `json:"enabled"`
		Format        string   `json:"format"`
		Retries       int      `json:"retries"`
		Revision      int      `json:"revision"`
		Secret        string   `json:"secret"`
		DisableReason string   `json:"disable_reason"`
	}
	// An account comes into being with its first hook.
	doc := r.cli.ErrorJSON(t, exitNotFound, "webhooks", "list")
	if !strings.Contains(doc.Error.Message, "account not found") {
		t.Errorf("list before the first hook: %+v", doc.Error)
	}

	var missed hook
	r.cli.JSON(t, &missed, "webhooks", "create", "--name", "Missed calls", "--hook", "call", "--call-type", "incoming_call",
		"--status", "missed", "--uri", r.target.URL+"/missed", "--format", "json", "--retries", "1")
	if missed.ID == "" || missed.Hook != "call" || !slices.Equal(missed.CallTypes, []string{"incoming_call"}) ||
		!slices.Equal(missed.CallStatuses, []string{"missed"}) || missed.Retries != 1 || !strings.HasPrefix(missed.Secret, "whsec_") || !missed.Enabled {
		t.Fatalf("create printed %+v", missed)
	}

	t.Run("create refuses what the API refuses, naming the field", func(t *testing.T) {
		doc := r.cli.ErrorJSON(t, exitRejected, "webhooks", "create", "--name", "x", "--hook", "call", "--status", "sideways", "--uri", r.target.URL)
		if doc.Error.Status != http.StatusBadRequest || !strings.Contains(string(doc.Error.Data), "call_statuses") {
			t.Errorf("bad status: %+v", doc.Error)
		}
		res := r.cli.Must(t, exitRejected, "webhooks", "create", "--name", "x", "--hook", "call", "--uri", "ftp://example.com")
		if !strings.Contains(res.Stderr, "uri:") {
			t.Errorf("table-mode error does not name the field: %s", res.Stderr)
		}
	})

	t.Run("list and get", func(t *testing.T) {
		var list []hook
		r.cli.JSON(t, &list, "webhooks", "list")
		if len(list) != 1 || list[0].ID != missed.ID || list[0].Secret != "" {
			t.Errorf("list printed %+v", list)
		}
		res := r.cli.Must(t, exitOK, "webhooks", "list")
		if !strings.Contains(res.Stdout, "ID") || !strings.Contains(res.Stdout, missed.ID) || !strings.Contains(res.Stdout, "call_statuses=missed") {
			t.Errorf("table:\n%s", res.Stdout)
		}
		var got hook
		r.cli.JSON(t, &got, "webhooks", "get", missed.ID)
		if got.ID != missed.ID || got.Name != "Missed calls" {
			t.Errorf("get printed %+v", got)
		}
		// Shell completion asks the API for the account's hook ids.
		res = r.cli.Must(t, exitOK, "__complete", "webhooks", "get", "")
		if !strings.Contains(res.Stdout, missed.ID+"\tMissed calls") {
			t.Errorf("completion of a hook id offers:\n%s", res.Stdout)
		}
		res = r.cli.Must(t, exitOK, "webhooks", "get", missed.ID)
		if !strings.Contains(res.Stdout, "uri:") || !strings.Contains(res.Stdout, r.target.URL+"/missed") {
			t.Errorf("get table:\n%s", res.Stdout)
		}
	})

	t.Run("edit, disable, enable", func(t *testing.T) {
		var edited hook
		r.cli.JSON(t, &edited, "webhooks", "edit", missed.ID, "--status", "missed,no_answer", "--custom-data", "crm=42")
		if !slices.Equal(edited.CallStatuses, []string{"missed", "no_answer"}) || edited.Name != "Missed calls" || edited.Revision != missed.Revision+1 {
			t.Errorf("edit printed %+v", edited)
		}
		doc := r.cli.ErrorJSON(t, exitRejected, "webhooks", "edit", missed.ID, "--name", "stale", "--revision", strconv.Itoa(missed.Revision))
		if doc.Error.Status != http.StatusConflict {
			t.Errorf("stale revision: %+v", doc.Error)
		}
		var disabled, enabled hook
		r.cli.JSON(t, &disabled, "webhooks", "disable", missed.ID)
		r.cli.JSON(t, &enabled, "webhooks", "enable", missed.ID)
		if disabled.Enabled || !enabled.Enabled {
			t.Errorf("disable gave enabled=%v, enable gave enabled=%v", disabled.Enabled, enabled.Enabled)
		}
	})

	t.Run("unknown hook, bad token, API down", func(t *testing.T) {
		const unknown = "0123456789abcdef0123456789abcdef"
		for _, args := range [][]string{
			{"webhooks", "get", unknown}, {"webhooks", "edit", unknown, "--name", "x"}, {"webhooks", "delete", unknown},
			{"webhooks", "enable", unknown}, {"attempts", "list", "--hook", unknown},
		} {
			doc := r.cli.ErrorJSON(t, exitNotFound, args...)
			if doc.Error.Kind != "not_found" || doc.Error.Status != http.StatusNotFound {
				t.Errorf("%v: %+v", args, doc.Error)
			}
		}
		for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "get", missed.ID}, {"attempts", "list"}} {
			doc := r.cli.ErrorJSON(t, exitAuth, append(args, "--token", "wrong-token")...)
			if doc.Error.Status != http.StatusUnauthorized {
				t.Errorf("%v with a bad token: %+v", args, doc.Error)
			}
		}
		// An account token acting on another account: 403.
		var token struct {
			Data struct {
				Token string `json:"token"`
			} `json:"data"`
		}
		if status := r.st.API(t, http.MethodPut, "/v1/accounts/other/tokens", `{"data":{"name":"other"}}`, &token); status != http.StatusCreated {
			t.Fatalf("create token: %d", status)
		}
		doc := r.cli.ErrorJSON(t, exitAuth, "webhooks", "list", "--token", token.Data.Token)
		if doc.Error.Status != http.StatusForbidden {
			t.Errorf("other account's token: %+v", doc.Error)
		}
		down, err := stack.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "create", "--name", "x", "--hook", "all", "--uri", "http://x"}, {"attempts", "list"}} {
			doc := r.cli.ErrorJSON(t, exitUnreachable, append(args, "--api", "http://"+down)...)
			if doc.Error.Kind != "unreachable" || !strings.Contains(doc.Error.Message, down) {
				t.Errorf("%v with the API down: %+v", args, doc.Error)
			}
		}
		r.cli.Must(t, exitUsage, "webhooks", "get")
		r.cli.Must(t, exitUsage, "attempts", "list", "--since", "yesterday")
		r.cli.Must(t, exitUsage, "attempts", "list", "--result", "maybe")
	})

	t.Run("attempts list and tail", func(t *testing.T) {
		tail := r.cli.Start(t, "attempts", "tail", "--interval", "200ms", "--output", "json", "--lines", "0")
		r.cli.Must(t, exitOK, "trigger", "missed-call")
		r.callbacksTo(t, "/missed", 1)
		var attempt struct {
			HookID     string `json:"hook_id"`
			DeliveryID string `json:"delivery_id"`
			Result     string `json:"result"`
			Response   struct {
				Status int `json:"status"`
			} `json:"response"`
		}
		select {
		case line, ok := <-tail.Lines():
			if !ok {
				t.Fatal("tail stopped")
			}
			if err := json.Unmarshal([]byte(line), &attempt); err != nil {
				t.Fatalf("tail line %q: %v", line, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("tail printed no attempt within 60s of the callback")
		}
		if attempt.HookID != missed.ID || attempt.Result != "success" || attempt.Response.Status != http.StatusOK {
			t.Errorf("tail printed %+v", attempt)
		}
		if code, stderr := tail.Interrupt(t, 10*time.Second); code != exitOK {
			t.Errorf("tail after Ctrl-C: exit %d, stderr %s", code, stderr)
		}

		var attempts []struct {
			ID         string `json:"id"`
			HookID     string `json:"hook_id"`
			DeliveryID string `json:"delivery_id"`
			Result     string `json:"result"`
		}
		r.cli.JSON(t, &attempts, "attempts", "list", "--hook", missed.ID, "--since", "10m", "--result", "success")
		if len(attempts) != 1 || attempts[0].DeliveryID != attempt.DeliveryID {
			t.Errorf("attempts list printed %+v, want the one tail showed (%s)", attempts, attempt.DeliveryID)
		}
		r.cli.JSON(t, &attempts, "attempts", "list", "--result", "failure")
		if len(attempts) != 0 {
			t.Errorf("failure attempts: %+v", attempts)
		}
		res := r.cli.Must(t, exitOK, "attempts", "list")
		if !strings.Contains(res.Stdout, "DELIVERY") || !strings.Contains(res.Stdout, attempt.DeliveryID) {
			t.Errorf("attempts table:\n%s", res.Stdout)
		}
	})

	t.Run("resend and recover", func(t *testing.T) {
		failing := httptest.NewServer(&teststack.Receiver{Status: http.StatusInternalServerError})
		defer failing.Close()
		var broken hook
		r.cli.JSON(t, &broken, "webhooks", "create", "--name", "Broken", "--hook", "channel_destroy", "--uri", failing.URL+"/x", "--retries", "0")
		start := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
		r.cli.Must(t, exitOK, "trigger", "busy")
		type attempt struct {
			DeliveryID string `json:"delivery_id"`
			Attempt    int    `json:"attempt"`
			Result     string `json:"result"`
		}
		// attemptsOf reads the broken hook's attempts, newest first.
		attemptsOf := func() []attempt {
			var got []attempt
			r.cli.JSON(t, &got, "attempts", "list", "--hook", broken.ID)
			return got
		}
		var first attempt
		testenv.Eventually(t, 60*time.Second, "the failed attempt", func() bool {
			got := attemptsOf()
			if len(got) == 1 {
				first = got[0]
			}
			return len(got) == 1
		})
		if first.Result != "failure" {
			t.Fatalf("attempt %+v, want a failure", first)
		}

		var listed struct {
			DryRun     bool `json:"dry_run"`
			Deliveries []struct {
				DeliveryID string `json:"delivery_id"`
				Resent     bool   `json:"resent"`
			} `json:"deliveries"`
		}
		r.cli.JSON(t, &listed, "recover", "--hook", broken.ID, "--since", start, "--dry-run")
		if !listed.DryRun || len(listed.Deliveries) != 1 || listed.Deliveries[0].DeliveryID != first.DeliveryID || listed.Deliveries[0].Resent {
			t.Errorf("recover --dry-run printed %+v, want %s listed", listed, first.DeliveryID)
		}

		var resent struct {
			DeliveryID string `json:"delivery_id"`
			HookID     string `json:"hook_id"`
		}
		r.cli.JSON(t, &resent, "resend", first.DeliveryID)
		if resent.DeliveryID != first.DeliveryID || resent.HookID != broken.ID {
			t.Errorf("resend printed %+v", resent)
		}
		testenv.Eventually(t, 60*time.Second, "the resent attempt", func() bool {
			got := attemptsOf()
			return len(got) == 2 && got[0].Attempt == 2 && got[0].DeliveryID == first.DeliveryID
		})

		r.cli.JSON(t, &listed, "recover", "--hook", broken.ID, "--since", "10m")
		if listed.DryRun || len(listed.Deliveries) != 1 || !listed.Deliveries[0].Resent {
			t.Errorf("recover printed %+v, want the delivery resent", listed)
		}
		testenv.Eventually(t, 60*time.Second, "the recovered attempt", func() bool { return len(attemptsOf()) == 3 })
		res := r.cli.Must(t, exitOK, "recover", "--hook", broken.ID, "--since", "10m", "--dry-run")
		if !strings.Contains(res.Stdout, "dry run") || !strings.Contains(res.Stdout, first.DeliveryID) {
			t.Errorf("recover table:\n%s", res.Stdout)
		}

		const unknown = "0123456789abcdef0123456789abcdef"
		r.cli.ErrorJSON(t, exitNotFound, "resend", "no-such-event:"+unknown)
		r.cli.ErrorJSON(t, exitNotFound, "recover", "--hook", unknown, "--since", "1h")
		r.cli.ErrorJSON(t, exitAuth, "resend", first.DeliveryID, "--token", "wrong-token")
		r.cli.ErrorJSON(t, exitAuth, "recover", "--hook", broken.ID, "--since", "1h", "--token", "wrong-token")
		down, err := stack.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		r.cli.ErrorJSON(t, exitUnreachable, "resend", first.DeliveryID, "--api", "http://"+down)
		r.cli.ErrorJSON(t, exitUsage, "recover", "--hook", broken.ID)
		r.cli.ErrorJSON(t, exitUsage, "recover", "--hook", broken.ID, "--since", "last week")
		r.cli.ErrorJSON(t, exitRejected, "recover", "--hook", broken.ID, "--since", "1h", "--limit", "1000")
	})

	t.Run("delete", func(t *testing.T) {
		r.cli.Must(t, exitOK, "webhooks", "delete", missed.ID)
		r.cli.Must(t, exitNotFound, "webhooks", "get", missed.ID)
	})
}
