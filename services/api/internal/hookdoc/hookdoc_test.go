package hookdoc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

func fields(t testing.TB, doc string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("test document %s: %v", doc, err)
	}
	return m
}

func TestDecodeWirecloudDocument(t *testing.T) {
	t.Parallel()
	doc, v := Decode(fields(t, `{"name":"New Calls", "uri":"http://my.server.com/calls/new.php", "http_verb":"post", "hook":"channel_create", "retries":3}`))
	if !v.Empty() {
		t.Fatalf("violations: %v", v)
	}
	want := Document{
		Name: "New Calls", URI: "http://my.server.com/calls/new.php", HTTPVerb: "post", Hook: "channel_create",
		Retries: 3, CustomData: json.RawMessage("{}"), Enabled: true, Format: event.FormatFormData, IncludeInternalLegs: true,
		CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{},
	}
	if fmt.Sprint(doc) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", doc, want)
	}
}

func TestDecodeCustomData(t *testing.T) {
	t.Parallel()
	doc, v := Decode(fields(t, `{"name":"New Calls", "uri":"http://my.server.com/calls/new.php", "http_verb":"post", "hook":"channel_create", "retries":3,
		"custom_data": {"account_id": "my_crm_account_id", "screen_pop": true}}`))
	if !v.Empty() {
		t.Fatalf("violations: %v", v)
	}
	if got := string(doc.CustomData); got != `{"account_id":"my_crm_account_id","screen_pop":true}` {
		t.Fatalf("custom_data = %s", got)
	}
}

func TestDecodeDefaultsAndNormalisation(t *testing.T) {
	t.Parallel()
	doc, v := Decode(fields(t, `{"name":"x","uri":"HTTPS://Example.com:8443/p?q=1","hook":"CALL","http_verb":"PUT","format":"JSON",
		"enabled":false,"include_internal_legs":false,"retries":0,
		"call_types":["outgoing_call","incoming_call","outgoing_call"],"call_statuses":["missed","ringing"],
		"id":"ignored","created":"ignored","revision":7,"secret":"ignored","disable_reason":"ignored","retries":null}`))
	if !v.Empty() {
		t.Fatalf("violations: %v", v)
	}
	if doc.Hook != event.HookCall || doc.HTTPVerb != "put" || doc.Format != event.FormatJSON || doc.Enabled || doc.IncludeInternalLegs {
		t.Fatalf("normalisation: %+v", doc)
	}
	if doc.Retries != DefaultRetries {
		t.Fatalf("null retries should take the default, got %d", doc.Retries)
	}
	if !slices.Equal(doc.CallTypes, []string{"incoming_call", "outgoing_call"}) {
		t.Fatalf("call_types = %v, want deduplicated in vocabulary order", doc.CallTypes)
	}
	if !slices.Equal(doc.CallStatuses, []string{"ringing", "missed"}) {
		t.Fatalf("call_statuses = %v", doc.CallStatuses)
	}

	media, v := Decode(fields(t, `{"name":"vm","uri":"https://h/x","hook":"media","media_types":["voicemail"]}`))
	if !v.Empty() || !slices.Equal(media.MediaTypes, []string{"voicemail"}) {
		t.Fatalf("media: %+v %v", media, v)
	}
}

func TestDecodeViolations(t *testing.T) {
	t.Parallel()
	const valid = `"name":"n","uri":"https://example.com/h","hook":"channel_create"`
	bigCustom := make([]string, MaxCustomDataKeys+1)
	for i := range bigCustom {
		bigCustom[i] = fmt.Sprintf(`"k%d":1`, i)
	}
	cases := []struct {
		name, doc, field, rule string
	}{
		{"name missing", `{"uri":"https://e.com","hook":"all"}`, FieldName, validation.RuleRequired},
		{"name null", `{"name":null,"uri":"https://e.com","hook":"all"}`, FieldName, validation.RuleRequired},
		{"name blank", `{"name":"  ","uri":"https://e.com","hook":"all"}`, FieldName, validation.RuleMinLength},
		{"name too long", `{"name":"` + strings.Repeat("é", MaxNameLength+1) + `","uri":"https://e.com","hook":"all"}`, FieldName, validation.RuleMaxLength},
		{"name number", `{"name":5,"uri":"https://e.com","hook":"all"}`, FieldName, validation.RuleType},
		{"name control", `{"name":"a\u0000b","uri":"https://e.com","hook":"all"}`, FieldName, validation.RuleFormat},
		{"uri missing", `{"name":"n","hook":"all"}`, FieldURI, validation.RuleRequired},
		{"uri relative", `{"name":"n","uri":"/calls/new.php","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri ftp", `{"name":"n","uri":"ftp://e.com/x","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri credentials", `{"name":"n","uri":"https://user:pw@e.com/x","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri no host", `{"name":"n","uri":"http:///x","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri opaque", `{"name":"n","uri":"http:e.com","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri bad port", `{"name":"n","uri":"http://e.com:99999/","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri unparsable", `{"name":"n","uri":"http://e .com/","hook":"all"}`, FieldURI, validation.RuleFormat},
		{"uri too long", `{"name":"n","uri":"https://e.com/` + strings.Repeat("a", MaxURILength) + `","hook":"all"}`, FieldURI, validation.RuleMaxLength},
		{"uri array", `{"name":"n","uri":["https://e.com"],"hook":"all"}`, FieldURI, validation.RuleType},
		{"verb unknown", `{` + valid + `,"http_verb":"delete"}`, FieldHTTPVerb, validation.RuleEnum},
		{"hook missing", `{"name":"n","uri":"https://e.com"}`, FieldHook, validation.RuleRequired},
		{"hook unknown", `{"name":"n","uri":"https://e.com","hook":"channel_park"}`, FieldHook, validation.RuleEnum},
		{"retries too many", `{` + valid + `,"retries":11}`, FieldRetries, validation.RuleMaximum},
		{"retries negative", `{` + valid + `,"retries":-1}`, FieldRetries, validation.RuleMinimum},
		{"retries huge", `{` + valid + `,"retries":1e30}`, FieldRetries, validation.RuleMaximum},
		{"retries fraction", `{` + valid + `,"retries":2.5}`, FieldRetries, validation.RuleType},
		{"retries string", `{` + valid + `,"retries":"3"}`, FieldRetries, validation.RuleType},
		{"custom_data array", `{` + valid + `,"custom_data":[1]}`, FieldCustomData, validation.RuleType},
		{"custom_data many keys", `{` + valid + `,"custom_data":{` + strings.Join(bigCustom, ",") + `}}`, FieldCustomData, validation.RuleMaxProperties},
		{"custom_data large", `{` + valid + `,"custom_data":{"k":"` + strings.Repeat("x", MaxCustomDataBytes) + `"}}`, FieldCustomData, validation.RuleMaxSize},
		{"custom_data empty key", `{` + valid + `,"custom_data":{"":1}}`, FieldCustomData, validation.RuleFormat},
		{"enabled string", `{` + valid + `,"enabled":"yes"}`, FieldEnabled, validation.RuleType},
		{"format unknown", `{` + valid + `,"format":"xml"}`, FieldFormat, validation.RuleEnum},
		{"include_internal_legs number", `{` + valid + `,"include_internal_legs":1}`, FieldIncludeInternalLegs, validation.RuleType},
		{"call_types unknown", `{"name":"n","uri":"https://e.com","hook":"call","call_types":["forwarded_call"]}`, FieldCallTypes, validation.RuleEnum},
		{"call_types not list", `{"name":"n","uri":"https://e.com","hook":"call","call_types":"incoming_call"}`, FieldCallTypes, validation.RuleType},
		{"call_types numbers", `{"name":"n","uri":"https://e.com","hook":"call","call_types":[1]}`, FieldCallTypes, validation.RuleType},
		{"call_statuses unknown", `{"name":"n","uri":"https://e.com","hook":"call","call_statuses":["ended","parked"]}`, FieldCallStatuses, validation.RuleEnum},
		{"call_types on channel hook", `{` + valid + `,"call_types":["incoming_call"]}`, FieldCallTypes, validation.RuleNotAllowed},
		{"call_statuses on media hook", `{"name":"n","uri":"https://e.com","hook":"media","call_statuses":["ended"]}`, FieldCallStatuses, validation.RuleNotAllowed},
		{"media_types on call hook", `{"name":"n","uri":"https://e.com","hook":"call","media_types":["voicemail"]}`, FieldMediaTypes, validation.RuleNotAllowed},
		{"media_types unknown", `{"name":"n","uri":"https://e.com","hook":"media","media_types":["fax"]}`, FieldMediaTypes, validation.RuleEnum},
		{"unknown field", `{` + valid + `,"http_method":"post"}`, "http_method", validation.RuleUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, v := Decode(fields(t, tc.doc))
			if _, ok := v[tc.field][tc.rule]; !ok {
				t.Fatalf("want %s/%s, got %v", tc.field, tc.rule, v)
			}
			if v[tc.field][tc.rule].Message == "" {
				t.Fatalf("violation without message: %v", v)
			}
			if len(v) != 1 {
				t.Fatalf("want only %s reported, got %v", tc.field, v)
			}
		})
	}
}

func TestDecodeReportsEveryField(t *testing.T) {
	t.Parallel()
	_, v := Decode(fields(t, `{"uri":"ftp://x","retries":99,"format":"xml"}`))
	for _, want := range [][2]string{
		{FieldName, validation.RuleRequired}, {FieldURI, validation.RuleFormat}, {FieldHook, validation.RuleRequired},
		{FieldRetries, validation.RuleMaximum}, {FieldFormat, validation.RuleEnum},
	} {
		if _, ok := v[want[0]][want[1]]; !ok {
			t.Errorf("missing %s/%s in %v", want[0], want[1], v)
		}
	}
}

// FuzzDecode checks that no input makes Decode panic and that a document
// it accepts satisfies the invariants the store and deliverer rely on.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"name":"New Calls","uri":"http://my.server.com/calls/new.php","http_verb":"post","hook":"channel_create","retries":3}`,
		`{"name":"c","uri":"https://e.com","hook":"call","call_types":["incoming_call"],"call_statuses":["missed"]}`,
		`{"name":"m","uri":"https://e.com","hook":"media","media_types":["voicemail"],"custom_data":{"a":[1,{"b":null}]}}`,
		`{"name":null,"uri":1,"hook":[],"retries":"x","custom_data":"y"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(input), &m) != nil {
			return
		}
		doc, v := Decode(m)
		if !v.Empty() {
			return
		}
		if CheckCallbackURI(doc.URI) != "" || len(doc.URI) > MaxURILength {
			t.Fatalf("accepted bad uri %q", doc.URI)
		}
		if !slices.Contains(event.HookTypes, doc.Hook) || !slices.Contains(event.HTTPVerbs, doc.HTTPVerb) || !slices.Contains(event.Formats, doc.Format) {
			t.Fatalf("accepted bad enum: %+v", doc)
		}
		if doc.Retries < MinRetries || doc.Retries > MaxRetries {
			t.Fatalf("accepted retries %d", doc.Retries)
		}
		if !json.Valid(doc.CustomData) || doc.CustomData[0] != '{' {
			t.Fatalf("accepted custom_data %s", doc.CustomData)
		}
	})
}
