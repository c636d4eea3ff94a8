package webhooks

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/inputfile"
	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// maxDocumentBytes bounds a --file hook document; the API's own body
// limit is smaller and reported as 413.
const maxDocumentBytes = 1 << 20

// documentFlags are the hook document's fields as flags, named after the
// API's fields (hyphens for underscores; list fields singular and
// repeatable). Only the flags given go into the document, so the API's
// defaults and validation apply unchanged: one definition of a hook.
type documentFlags struct {
	file                            string
	name, uri, hook, verb, format   string
	retries                         int
	callTypes, statuses, mediaTypes []string
	customData                      []string
	customDataJSON                  string
	enabled                         bool
	internalLegs, subaccounts       bool
}

func (d *documentFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&d.file, "file", "f", "", "hook document as JSON (the API's data object), or - for stdin; flags override its fields")
	fl.StringVar(&d.name, "name", "", "a short label")
	fl.StringVar(&d.uri, "uri", "", "absolute http(s) URL to call")
	fl.StringVar(&d.hook, "hook", "", "what the hook hears: "+strings.Join(event.HookTypes, ", "))
	fl.StringVar(&d.verb, "http-verb", "", "get, post (default) or put")
	fl.StringVar(&d.format, "format", "", "payload encoding: form-data (default) or json")
	fl.IntVar(&d.retries, "retries", 0, "retries after a failed attempt, 0 to 10 (default 2)")
	fl.StringSliceVar(&d.callTypes, "call-type", nil, "hook call: only these call types ("+strings.Join(event.CallTypes, ", ")+"); repeat or comma-separate; empty means any")
	fl.StringSliceVar(&d.statuses, "status", nil, "hook call: only these statuses ("+strings.Join(event.CallStatuses, ", ")+"); empty means any")
	fl.StringSliceVar(&d.mediaTypes, "media-type", nil, "hook media: only these media types ("+strings.Join(event.MediaTypes, ", ")+"); empty means any")
	fl.StringArrayVar(&d.customData, "custom-data", nil, "KEY=VALUE merged into every payload (string values; repeat it)")
	fl.StringVar(&d.customDataJSON, "custom-data-json", "", "custom_data as a JSON object (any value types)")
	fl.BoolVar(&d.enabled, "enabled", true, "whether the hook fires (--enabled=false to create it disabled)")
	fl.BoolVar(&d.internalLegs, "include-internal-legs", true, "Kazoo hooks: include internal call legs")
	fl.BoolVar(&d.subaccounts, "include-subaccounts", false, "Kazoo's flag, stored and returned (no effect here)")
	for flag, values := range map[string][]string{
		"hook": event.HookTypes, "http-verb": {"get", "post", "put"}, "format": {"form-data", "json"},
		"call-type": event.CallTypes, "status": event.CallStatuses, "media-type": event.MediaTypes,
	} {
		_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
}

// document builds the JSON object to send: the --file document, then each
// flag the user gave, by its API field name.
func (d *documentFlags) document(f *factory.Factory, flags *pflag.FlagSet) (map[string]any, error) {
	doc := map[string]any{}
	if d.file != "" {
		raw, err := inputfile.Read(f.IO.In, d.file, maxDocumentBytes)
		if err != nil {
			return nil, err
		}
		var wrapped struct {
			Data map[string]any `json:"data"`
		}
		// Accept both the bare document and the API's {"data": ...}.
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, exitcode.Failuref("%s: not a JSON object: %w", d.file, err)
		}
		if json.Unmarshal(raw, &wrapped) == nil && wrapped.Data != nil && len(doc) == 1 {
			doc = wrapped.Data
		}
	}
	set := func(flag, field string, value any) {
		if flags.Changed(flag) {
			doc[field] = value
		}
	}
	set("name", "name", d.name)
	set("uri", "uri", d.uri)
	set("hook", "hook", d.hook)
	set("http-verb", "http_verb", d.verb)
	set("format", "format", d.format)
	set("retries", "retries", d.retries)
	set("call-type", "call_types", nonNil(d.callTypes))
	set("status", "call_statuses", nonNil(d.statuses))
	set("media-type", "media_types", nonNil(d.mediaTypes))
	set("enabled", "enabled", d.enabled)
	set("include-internal-legs", "include_internal_legs", d.internalLegs)
	set("include-subaccounts", "include_subaccounts", d.subaccounts)
	if flags.Changed("custom-data-json") {
		var custom map[string]any
		if err := json.Unmarshal([]byte(d.customDataJSON), &custom); err != nil {
			return nil, exitcode.Usagef("--custom-data-json: not a JSON object: %v", err)
		}
		doc["custom_data"] = custom
	}
	if flags.Changed("custom-data") {
		custom, _ := doc["custom_data"].(map[string]any)
		if custom == nil {
			custom = map[string]any{}
		}
		for _, kv := range d.customData {
			key, value, ok := strings.Cut(kv, "=")
			if !ok || key == "" {
				return nil, exitcode.Usagef("--custom-data %q: want KEY=VALUE", kv)
			}
			custom[key] = value
		}
		doc["custom_data"] = custom
	}
	return doc, nil
}

// nonNil sends an emptied list as [] (any), never null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// body is the hook document from the flags (and --file), wrapped as the
// API's request body.
func (d *documentFlags) body(f *factory.Factory, flags *pflag.FlagSet) ([]byte, error) {
	doc, err := d.document(f, flags)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"data": doc})
	if err != nil {
		return nil, fmt.Errorf("encode the hook document: %w", err)
	}
	return body, nil
}
