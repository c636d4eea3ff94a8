package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/scenario"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// TestScenariosArriveWithTheirDocumentedStatuses sends every pkg/scenario
// sequence through the running ingest, matcher and deliverer, and checks
// that the callbacks carry what the package documents: a Spoke call hook
// gets each call step's type and status, a Spoke media hook the media step
// with a link to the very file uploaded, and a Kazoo hook each lifecycle
// with the test marker in custom_channel_vars.
func TestScenariosArriveWithTheirDocumentedStatuses(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()

	const account = "acct-scenarios"
	for _, hook := range []apiclient.HookDocument{
		{Name: "Spoke calls", Uri: target.URL + "/spoke", Hook: apiclient.HookKindCall, Format: new(apiclient.PayloadFormatJson)},
		{Name: "Spoke media", Uri: target.URL + "/media", Hook: apiclient.HookKindMedia, Format: new(apiclient.PayloadFormatJson)},
		{Name: "Kazoo all", Uri: target.URL + "/kazoo", Hook: apiclient.HookKindAll, Format: new(apiclient.PayloadFormatJson)},
	} {
		st.CreateHook(t, account, hook)
	}

	var sequences []scenario.Sequence
	for _, name := range scenario.Names {
		seq, err := scenario.Build(name, scenario.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sequences = append(sequences, seq)
	}
	outbound, err := scenario.Build(scenario.MissedCall, scenario.Options{From: "5010", To: "+4930123456", Direction: event.DirectionOutbound})
	if err != nil {
		t.Fatal(err)
	}
	sequences = append(sequences, outbound)
	sender := scenario.Ingest{BaseURL: st.URL("ingest"), Token: st.Cfg.AdminToken}
	wantCalls := 0
	for _, seq := range sequences {
		if err := sender.Send(t.Context(), account, seq); err != nil {
			t.Fatalf("send %s: %v", seq.Scenario, err)
		}
		for _, cb := range seq.Callbacks() {
			wantCalls++ // Spoke call or media hook
			if cb.Kind == event.KindCall {
				wantCalls++ // Kazoo all
			}
		}
	}

	var calls []teststack.Callback
	testenv.Eventually(t, 60*time.Second, "every scenario's callbacks", func() bool {
		calls = recv.Calls()
		return len(calls) >= wantCalls
	})
	if len(calls) != wantCalls {
		t.Errorf("%d callbacks, want %d", len(calls), wantCalls)
	}

	// What each thread's callbacks said, per hook, sorted (the matcher and
	// deliverer work in parallel, so order is not promised).
	spoke, kazoo := map[string][]string{}, map[string][]string{}
	media := map[string][]map[string]any{}
	for _, c := range calls {
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("callback to %s is not JSON: %s", c.Path, c.Body)
		}
		str := func(k string) string { s, _ := body[k].(string); return s }
		switch c.Path {
		case "/spoke":
			spoke[str("thread_id")] = append(spoke[str("thread_id")], str("type")+"/"+str("subtype"))
		case "/media":
			media[str("thread_id")] = append(media[str("thread_id")], body)
		case "/kazoo":
			vars, _ := body["custom_channel_vars"].(map[string]any)
			if vars[event.TestVar] != "true" {
				t.Errorf("Kazoo callback without the test marker: %s", c.Body)
			}
			kazoo[str("call_id")] = append(kazoo[str("call_id")], str("hook_event"))
		default:
			t.Errorf("callback to unexpected path %s", c.Path)
		}
	}
	for _, seq := range sequences {
		var wantSpoke, wantKazoo []string
		var uploads []*scenario.Upload
		for _, step := range seq.Steps {
			if step.Upload != nil {
				uploads = append(uploads, step.Upload)
				continue
			}
			wantSpoke = append(wantSpoke, step.Callback.CallType+"/"+step.Callback.Status)
			wantKazoo = append(wantKazoo, step.Callback.Lifecycle)
		}
		label := seq.Scenario + " (" + seq.Direction + ")"
		if got := sorted(spoke[seq.ThreadID]); !slices.Equal(got, sorted(wantSpoke)) {
			t.Errorf("%s: Spoke call callbacks %v, want %v", label, got, sorted(wantSpoke))
		}
		if got := sorted(kazoo[seq.CallID]); !slices.Equal(got, sorted(wantKazoo)) {
			t.Errorf("%s: Kazoo callbacks %v, want %v", label, got, sorted(wantKazoo))
		}
		got := media[seq.ThreadID]
		if len(got) != len(uploads) {
			t.Errorf("%s: %d media callbacks, want %d", label, len(got), len(uploads))
			continue
		}
		for i, up := range uploads {
			body := got[i]
			if body["type"] != up.Fields["type"] || body["id"] != seq.CallID || body["filename"] != up.Fields["filename"] {
				t.Errorf("%s: media callback %v, want type %s of call %s", label, body, up.Fields["type"], seq.CallID)
			}
			link, _ := body["attachments"].(string)
			if status, file := download(t, link); status != http.StatusOK || string(file) != string(up.File) {
				t.Errorf("%s: the media link %q answers %d with %d bytes, not the %d-byte WAV uploaded", label, link, status, len(file), len(up.File))
			}
		}
	}
}

// TestSimulateRunsTheScenarioThroughIngest: POST .../simulate sends the
// scenario through the real ingest (API_INGEST_URL, the admin token), and
// the callbacks carry what its answer promised.
func TestSimulateRunsTheScenarioThroughIngest(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()
	const account = "acct-simulate"
	for _, hook := range []string{
		`{"name":"Spoke calls","uri":"` + target.URL + `/spoke","hook":"call","format":"json"}`,
		`{"name":"Spoke media","uri":"` + target.URL + `/media","hook":"media","format":"json"}`,
	} {
		if status := st.API(t, http.MethodPut, "/v1/accounts/"+account+"/webhooks", `{"data":`+hook+`}`, nil); status != http.StatusCreated {
			t.Fatalf("create hook %s: status %d", hook, status)
		}
	}
	var sim struct {
		Data struct {
			CallID    string `json:"call_id"`
			ThreadID  string `json:"thread_id"`
			Callbacks []struct {
				Kind      string `json:"kind"`
				CallType  string `json:"call_type"`
				Status    string `json:"status"`
				MediaType string `json:"media_type"`
			} `json:"callbacks"`
		} `json:"data"`
	}
	if status := st.API(t, http.MethodPost, "/v1/accounts/"+account+"/simulate",
		`{"data":{"scenario":"voicemail","from":"+4930123456","to":"5010"}}`, &sim); status != http.StatusAccepted {
		t.Fatalf("simulate: status %d", status)
	}
	var want []string
	for _, cb := range sim.Data.Callbacks {
		if cb.Kind == event.KindMedia {
			want = append(want, "media/"+cb.MediaType)
		} else {
			want = append(want, cb.CallType+"/"+cb.Status)
		}
	}
	if strings.Join(want, " ") != "incoming_call/ringing incoming_call/missed media/voicemail" {
		t.Fatalf("simulate promised %v", want)
	}
	calls := waitFor(t, 60*time.Second, "the simulated call's callbacks", func() ([]teststack.Callback, bool) {
		c := recv.Calls()
		return c, len(c) >= len(want)
	})
	var got []string
	for _, c := range calls {
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("callback is not JSON: %s", c.Body)
		}
		if body["thread_id"] != sim.Data.ThreadID || body["id"] != sim.Data.CallID || body["from"] != "+4930123456" || body["to"] != "5010" {
			t.Errorf("callback %s is not the simulated call %s", c.Body, sim.Data.CallID)
		}
		if c.Path == "/media" {
			got = append(got, "media/"+body["type"].(string))
		} else {
			got = append(got, body["type"].(string)+"/"+body["subtype"].(string))
		}
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("callbacks %v, want %v", sorted(got), sorted(want))
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// waitFor polls check with testenv.Eventually and returns the value it
// last reported, the one that satisfied it.
func waitFor[T any](t *testing.T, within time.Duration, what string, check func() (T, bool)) T {
	t.Helper()
	var v T
	testenv.Eventually(t, within, what, func() bool {
		var ok bool
		v, ok = check()
		return ok
	})
	return v
}
