package freeswitch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// captureEvents parses the `event json` bodies of a captured event-socket
// stream; each JSON body sits on a line of its own there.
func captureEvents(t *testing.T, name string, opts Options) []*pbxhooksv1.Event {
	t.Helper()
	a := Adapter(opts)
	var out []*pbxhooksv1.Event
	sc := bufio.NewScanner(bytes.NewReader(testenv.SharedFixture(t, "pbx-captures", "freeswitch", name)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte(`{"Event-Name"`)) {
			continue
		}
		ev, err := a.Parse(sc.Bytes(), "acct1", receivedAt)
		if errors.Is(err, adapter.ErrIgnored) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, ev)
	}
	return out
}

func TestCaptureThreadGroupsBridgedLegs(t *testing.T) {
	t.Parallel()
	// The tail of call 100 -> bridge loopback/200: loopback/100-b
	// (b1491d92...) bridged to the leg it originated, loopback/200-a
	// (e868c851...), whose call_uuid FreeSWITCH rewrites mid-call.
	const aLeg, bLeg = "b1491d92-5b5a-41e0-9f97-fa0f0f0b99eb", "e868c851-d6c6-476e-8890-08b11c63c4cf"
	seen := map[string]int{}
	for _, ev := range captureEvents(t, "disconnect.txt", Options{}) {
		switch ev.GetCallId() {
		case aLeg, bLeg:
			seen[ev.GetCallId()]++
			if ev.GetThreadId() != aLeg {
				t.Errorf("%s %s: thread %q, want the originating leg %s", ev.GetCallId(), ev.GetLifecycle(), ev.GetThreadId(), aLeg)
			}
		default:
			if ev.GetThreadId() != ev.GetCallId() {
				t.Errorf("%s: thread %q, want its own uuid", ev.GetCallId(), ev.GetThreadId())
			}
		}
	}
	if seen[aLeg] == 0 || seen[bLeg] == 0 {
		t.Errorf("legs seen %v, want both", seen)
	}
}

func TestCaptureRequestAndChannelVars(t *testing.T) {
	t.Parallel()
	evs := captureEvents(t, "vm_json.txt", Options{ChannelVars: []string{"origination_caller_id_number", "not_set_anywhere"}})
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for _, ev := range evs {
		if ev.GetRequest() != "203" {
			t.Errorf("%s %s: request %q, want the destination 203", ev.GetCallId(), ev.GetLifecycle(), ev.GetRequest())
		}
		vars := ev.GetCustomChannelVars()
		if len(vars) != 1 || vars["origination_caller_id_number"] != "5551000" {
			t.Errorf("%s %s: custom_channel_vars %v, want only the allow-listed origination_caller_id_number", ev.GetCallId(), ev.GetLifecycle(), vars)
		}
	}
	for _, ev := range captureEvents(t, "vm_json.txt", Options{}) {
		if len(ev.GetCustomChannelVars()) != 0 {
			t.Errorf("no allow-list, yet custom_channel_vars %v", ev.GetCustomChannelVars())
		}
	}
}

func TestRequestFromSIPAndDomain(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	tests := map[string]struct {
		fields map[string]string
		want   string
	}{
		"sip request uri": {map[string]string{"variable_sip_req_uri": "200@pbx.example.com", "variable_domain_name": "d"}, "200@pbx.example.com"},
		"domain":          {map[string]string{"variable_domain_name": "pbx.example.com"}, "200@pbx.example.com"},
		"destination":     {nil, "200"},
	}
	for name, tt := range tests {
		fields := map[string]any{"Event-Name": "CHANNEL_CREATE", "Unique-ID": "u1", "Caller-Destination-Number": "200", "Call-Direction": "inbound"}
		for k, v := range tt.fields {
			fields[k] = v
		}
		ev, err := a.Parse(jsonBody(t, fields), "acct1", receivedAt)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetRequest() != tt.want || ev.GetLifecycle() != event.LifecycleChannelCreate {
			t.Errorf("%s: request %q, want %q", name, ev.GetRequest(), tt.want)
		}
	}
}

func jsonBody(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
