package hookdoc

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	stored := fields(t, `{"name":"missed","uri":"https://crm.example/x","hook":"call","call_statuses":["missed"],"retries":4,"id":"abc","revision":3}`)
	tests := []struct {
		name, patch string
		check       func(t *testing.T, doc Document, v validation.Violations)
	}{
		{"enable only", `{"enabled":true}`, func(t *testing.T, doc Document, v validation.Violations) {
			if !v.Empty() || !doc.Enabled || doc.Name != "missed" || doc.Retries != 4 || !slices.Equal(doc.CallStatuses, []string{"missed"}) {
				t.Fatalf("doc %+v, violations %v", doc, v)
			}
		}},
		{"null resets to default", `{"retries":null}`, func(t *testing.T, doc Document, v validation.Violations) {
			if !v.Empty() || doc.Retries != DefaultRetries {
				t.Fatalf("doc %+v, violations %v", doc, v)
			}
		}},
		{"type change drops foreign filters", `{"hook":"Channel_Create"}`, func(t *testing.T, doc Document, v validation.Violations) {
			if !v.Empty() || doc.Hook != "channel_create" || len(doc.CallStatuses) != 0 {
				t.Fatalf("doc %+v, violations %v", doc, v)
			}
		}},
		{"type change keeps a filter the patch names", `{"hook":"channel_create","call_statuses":["ended"]}`, func(t *testing.T, _ Document, v validation.Violations) {
			if _, ok := v[FieldCallStatuses][validation.RuleNotAllowed]; !ok {
				t.Fatalf("violations %v, want call_statuses not_allowed", v)
			}
		}},
		{"bad value is reported", `{"uri":"ftp://x"}`, func(t *testing.T, _ Document, v validation.Violations) {
			if _, ok := v[FieldURI][validation.RuleFormat]; !ok {
				t.Fatalf("violations %v", v)
			}
		}},
		{"bad hook type is reported", `{"hook":7}`, func(t *testing.T, _ Document, v validation.Violations) {
			if _, ok := v[FieldHook][validation.RuleType]; !ok {
				t.Fatalf("violations %v", v)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, v := Decode(Merge(stored, fields(t, tc.patch)))
			tc.check(t, doc, v)
		})
	}
	// The stored fields are not modified.
	if _, ok := stored[FieldCallStatuses]; !ok {
		t.Fatal("Merge changed its input")
	}
	var name string
	if err := json.Unmarshal(stored[FieldName], &name); err != nil || name != "missed" {
		t.Fatal("Merge changed its input")
	}
}

func TestIncludeSubaccountsIsAccepted(t *testing.T) {
	t.Parallel()
	doc, v := Decode(fields(t, `{"name":"n","uri":"https://e.com","hook":"all","include_subaccounts":true}`))
	if !v.Empty() || !doc.IncludeSubaccounts {
		t.Fatalf("doc %+v, violations %v", doc, v)
	}
	_, v = Decode(fields(t, `{"name":"n","uri":"https://e.com","hook":"all","include_subaccounts":"yes"}`))
	if _, ok := v[FieldIncludeSubaccounts][validation.RuleType]; !ok {
		t.Fatalf("violations %v", v)
	}
}
