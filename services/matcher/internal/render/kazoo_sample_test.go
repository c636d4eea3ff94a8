package render

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// kazooKnownAbsent lists the keys of Kazoo's samples that pbxhooks cannot
// send, with the reason. Every other key of a sample must be rendered, with
// the same JSON type.
var kazooKnownAbsent = map[string]string{
	"authorizing_id":               "Kazoo's id of the device or user that authorised the call; PBX events carry no such id",
	"authorizing_type":             "goes with authorizing_id",
	"owner_id":                     "Kazoo's user document id; not part of PBX events",
	"reseller_id":                  "Kazoo's account hierarchy (reseller of the account); pbxhooks accounts are flat",
	"local_resource_id":            "Kazoo's carrier resource document id; PBX events do not name a carrier resource",
	"local_resource_used":          "goes with local_resource_id",
	"emergency_resource_used":      "Kazoo's emergency carrier routing flag; not reported by PBX events",
	"call_forwarded":               "Kazoo's call-forward flag; not reported by PBX events",
	"custom_application_vars":      "Kazoo's application variables (CAVs); PBX events have only channel variables",
	"original_number":              "channel_bridge only: Kazoo's pre-normalisation dialled number; not in PBX events",
	"other_leg_destination_number": "channel_bridge only: the other leg's dialled number; not in PBX events",
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return "unknown"
	}
}

// TestKazooPayloadMatchesKazooSamples renders each lifecycle event and
// compares its key set and value types with Kazoo's own sample payload
// (testdata/kazoo, copied from Kazoo's crossbar/priv, see NOTICE.md).
func TestKazooPayloadMatchesKazooSamples(t *testing.T) {
	t.Parallel()
	statuses := map[string]string{
		event.LifecycleChannelCreate:  event.StatusRinging,
		event.LifecycleChannelAnswer:  event.StatusAnswered,
		event.LifecycleChannelBridge:  event.StatusAnswered,
		event.LifecycleChannelDestroy: event.StatusEnded,
	}
	for _, lifecycle := range event.Lifecycles {
		t.Run(lifecycle, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join("testdata", "kazoo", "webhooks_"+lifecycle+"-samples.json"))
			if err != nil {
				t.Fatalf("read sample: %v", err)
			}
			var samples []map[string]any
			if err := json.Unmarshal(raw, &samples); err != nil || len(samples) == 0 {
				t.Fatalf("sample is not a list of objects: %v", err)
			}
			sample := samples[0]

			req, err := (&Renderer{}).Render(hook(lifecycle, "post", "json", "https://example.com/"), callEvent(lifecycle, statuses[lifecycle]))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(req.Body, &got); err != nil {
				t.Fatalf("rendered body: %v", err)
			}

			for _, key := range slices.Sorted(maps.Keys(sample)) {
				if _, absent := kazooKnownAbsent[key]; absent {
					if _, ok := got[key]; ok {
						t.Errorf("%s is rendered but listed as known-absent", key)
					}
					continue
				}
				v, ok := got[key]
				if !ok {
					t.Errorf("%s: Kazoo sends it, we do not", key)
					continue
				}
				if want, have := jsonType(sample[key]), jsonType(v); want != have {
					t.Errorf("%s: Kazoo sends a %s, we send a %s (%v)", key, want, have, v)
				}
			}
			for _, key := range slices.Sorted(maps.Keys(got)) {
				if _, ok := sample[key]; !ok {
					t.Errorf("%s: we send it, Kazoo's sample has no such field", key)
				}
			}
			if got["hook_event"] != lifecycle {
				t.Errorf("hook_event = %v, want %s", got["hook_event"], lifecycle)
			}
		})
	}
}
