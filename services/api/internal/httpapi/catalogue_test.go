package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

func TestHookCatalogue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Public: no token needed, and a token does not hurt.
	items := h.do(t, http.MethodGet, "/v1/webhooks", "", "").expect(t, http.StatusOK).list(t)
	h.do(t, http.MethodGet, "/v1/webhooks", adminToken, "").expect(t, http.StatusOK)

	byID := map[string]map[string]any{}
	var ids []string
	for _, item := range items {
		m := item.(map[string]any)
		id := m["id"].(string)
		byID[id] = m
		ids = append(ids, id)
		if m["description"] == "" || m["name"] == "" {
			t.Errorf("%s lacks a name or description", id)
		}
	}
	// Exactly the types a hook document accepts, in the same order.
	if !slices.Equal(ids, event.HookTypes) {
		t.Fatalf("catalogue types %v, hook document accepts %v", ids, event.HookTypes)
	}
	values := func(hookType, filter string) string {
		filters := byID[hookType]["filters"].(map[string]any)
		f, ok := filters[filter].(map[string]any)
		if !ok {
			return "<absent>"
		}
		return fmt.Sprint(f["values"])
	}
	if got, want := values("call", "call_types"), fmt.Sprint(event.CallTypes); got != want {
		t.Errorf("call_types %s, want %s", got, want)
	}
	if got, want := values("call", "call_statuses"), fmt.Sprint(event.CallStatuses); got != want {
		t.Errorf("call_statuses %s, want %s", got, want)
	}
	if got, want := values("media", "media_types"), fmt.Sprint(event.MediaTypes); got != want {
		t.Errorf("media_types %s, want %s", got, want)
	}
	for _, lifecycle := range append(slices.Clone(event.Lifecycles), "all") {
		if n := len(byID[lifecycle]["filters"].(map[string]any)); n != 0 {
			t.Errorf("%s has %d filters, want none", lifecycle, n)
		}
	}
}
