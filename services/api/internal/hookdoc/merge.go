package hookdoc

import (
	"encoding/json"
	"strings"
)

// Merge applies a partial document (PATCH) to the stored document's fields
// and returns the fields to Decode, so a partial update is validated exactly
// like a create. A field in patch replaces the stored one; JSON null resets
// it to its default, as in JSON Merge Patch (RFC 7386).
//
// When the patch changes the hook type and does not mention a filter, a
// stored filter the new type cannot carry is dropped instead of failing
// validation: {"data":{"hook":"channel_create"}} on a call hook means "now a
// channel_create hook", not "a channel_create hook with call filters".
func Merge(stored, patch map[string]json.RawMessage) map[string]json.RawMessage {
	merged := make(map[string]json.RawMessage, len(stored)+len(patch))
	for k, v := range stored {
		merged[k] = v
	}
	for k, v := range patch {
		merged[k] = v
	}
	if _, changesType := patch[FieldHook]; !changesType {
		return merged
	}
	var newType string
	if json.Unmarshal(patch[FieldHook], &newType) != nil {
		// Decode reports the bad hook value; leave the filters alone.
		return merged
	}
	for field, onlyFor := range FilterFields {
		if _, mentioned := patch[field]; !mentioned && strings.ToLower(newType) != onlyFor {
			delete(merged, field)
		}
	}
	return merged
}
