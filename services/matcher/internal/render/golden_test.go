package render

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenRequest is a rendered request as the deliverer will send it: the
// request line, the content type, a blank line, the body.
func goldenRequest(req Request) []byte {
	return fmt.Appendf(nil, "%s %s\nContent-Type: %s\n\n%s\n", req.Method, req.URL, req.ContentType, req.Body)
}

// TestGolden renders every payload shape in every encoding and compares the
// bytes with testdata/<name>.golden. Run with -update to accept new output
// after checking the diff.
func TestGolden(t *testing.T) {
	t.Parallel()
	wirecloud := json.RawMessage(`{"account_id":"my_crm_account_id","screen_pop":true}`)
	nested := json.RawMessage(`{"crm":{"id":42,"tags":["vip","east coast"]},"screen_pop":true}`)
	internal := callEvent(event.LifecycleChannelCreate, event.StatusRinging)
	internal.IsInternalLeg = true
	noCCVs := callEvent(event.LifecycleChannelAnswer, event.StatusAnswered)
	noCCVs.CustomChannelVars = nil

	cases := []struct {
		name   string
		hook   *store.Hook
		custom json.RawMessage
		ev     *pbxhooksv1.Event
	}{
		{"kazoo_channel_create_json", hook(event.LifecycleChannelCreate, "post", "json", "https://crm.example.com/kazoo"), nil, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"kazoo_channel_answer_json", hook(event.LifecycleChannelAnswer, "post", "json", "https://crm.example.com/kazoo"), nil, noCCVs},
		{"kazoo_channel_bridge_json", hook(event.LifecycleChannelBridge, "post", "json", "https://crm.example.com/kazoo"), nil, callEvent(event.LifecycleChannelBridge, event.StatusAnswered)},
		{"kazoo_channel_destroy_json", hook(event.LifecycleChannelDestroy, "post", "json", "https://crm.example.com/kazoo"), nil, callEvent(event.LifecycleChannelDestroy, event.StatusEnded)},
		{"kazoo_channel_destroy_form_post", hook(event.LifecycleChannelDestroy, "post", "form-data", "https://crm.example.com/kazoo"), nil, callEvent(event.LifecycleChannelDestroy, event.StatusEnded)},
		{"kazoo_channel_destroy_form_put", hook(event.LifecycleChannelDestroy, "put", "form-data", "https://crm.example.com/kazoo"), nil, callEvent(event.LifecycleChannelDestroy, event.StatusEnded)},
		{"kazoo_channel_create_get", hook(event.LifecycleChannelCreate, "get", "form-data", "https://crm.example.com/kazoo?token=abc"), nil, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"kazoo_all_internal_leg_put_json", hook(event.HookAll, "put", "json", "https://crm.example.com/all"), nil, internal},
		{"kazoo_custom_data_wirecloud_json", hook(event.LifecycleChannelCreate, "post", "json", "http://my.server.com/calls/new.php"), wirecloud, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"kazoo_custom_data_nested_get", hook(event.LifecycleChannelCreate, "get", "", "http://my.server.com/calls/new.php"), nested, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"kazoo_custom_data_nested_form", hook(event.LifecycleChannelCreate, "post", "form-data", "http://my.server.com/calls/new.php"), nested, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"spoke_call_ringing_json", hook(event.HookCall, "post", "json", "https://spoke.example.com/call"), nil, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"spoke_call_ended_form", hook(event.HookCall, "post", "form-data", "https://spoke.example.com/call"), nil, callEvent(event.LifecycleChannelDestroy, event.StatusEnded)},
		{"spoke_call_ringing_get", hook(event.HookCall, "get", "", "https://spoke.example.com/call"), nil, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"spoke_call_custom_data_json", hook(event.HookCall, "post", "json", "https://spoke.example.com/call"), wirecloud, callEvent(event.LifecycleChannelCreate, event.StatusRinging)},
		{"spoke_media_voicemail_json", hook(event.HookMedia, "post", "json", "https://spoke.example.com/media"), nil, mediaEvent(event.MediaVoicemail)},
		{"spoke_media_call_recording_form", hook(event.HookMedia, "post", "form-data", "https://spoke.example.com/media"), nil, mediaEvent(event.MediaCallRecording)},
		{"spoke_media_voicemail_get", hook(event.HookMedia, "get", "", "https://spoke.example.com/media?src=pbx"), nil, mediaEvent(event.MediaVoicemail)},
	}
	r := testRenderer(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := *tc.hook
			h.CustomData = tc.custom
			req, err := r.Render(&h, tc.ev)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got := goldenRequest(req)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatalf("write golden file: %v", err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update once to create it): %v", err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s differs from the golden file\n got: %s\nwant: %s", tc.name, got, want)
			}
		})
	}
}
