package httpapi

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/hookdoc"
)

// hookTypeJSON describes one value of a hook document's "hook" field, as
// Kazoo's GET /v2/webhooks does, so UIs can build their pickers from it.
type hookTypeJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Filters are the list fields this type accepts, each with the values
	// it may hold; an empty list means "any". Empty for types without
	// filters.
	Filters map[string]filterJSON `json:"filters"`
}

type filterJSON struct {
	Description string   `json:"description"`
	Values      []string `json:"values"`
}

// hookCatalogue is GET /v1/webhooks. It needs no token: it is the same
// static vocabulary for every caller (what the OpenAPI document already
// publishes), and a UI shows the picker before anyone has a token. Being
// unauthenticated it is also not rate-limited per token; it does no I/O.
func (s *Server) hookCatalogue(c echo.Context) error {
	return respond(c, http.StatusOK, envelope{Data: hookCatalogue()})
}

func hookCatalogue() []hookTypeJSON {
	none := map[string]filterJSON{}
	types := []hookTypeJSON{
		{ID: event.LifecycleChannelCreate, Name: "New channel",
			Description: "A call leg starts (what most think of as a new call): sent when the channel is created, before anyone answers.", Filters: none},
		{ID: event.LifecycleChannelAnswer, Name: "Answered channel",
			Description: "The called party answered a call leg.", Filters: none},
		{ID: event.LifecycleChannelBridge, Name: "Bridged channel",
			Description: "Two call legs were connected to each other.", Filters: none},
		{ID: event.LifecycleChannelDestroy, Name: "Hungup channel",
			Description: "A call leg ended; the payload carries the hangup cause and durations.", Filters: none},
		{ID: event.HookAll, Name: "All channel events",
			Description: "Every channel event above (channel_create, channel_answer, channel_bridge, channel_destroy).", Filters: none},
		{ID: event.HookCall, Name: "Call (Spoke)",
			Description: "Call events by call type and call status, in Spoke's vocabulary. Either filter may be empty (= any), so a hook can select by type only, status only, or both.",
			Filters: map[string]filterJSON{
				hookdoc.FieldCallTypes: {
					Description: "Call directions to hear: incoming_call or outgoing_call.",
					Values:      slices.Clone(event.CallTypes)},
				hookdoc.FieldCallStatuses: {
					Description: "Call statuses to hear.",
					Values:      slices.Clone(event.CallStatuses)},
			}},
		{ID: event.HookMedia, Name: "Media (Spoke)",
			Description: "A voicemail or call recording is available; the payload carries a download link that expires.",
			Filters: map[string]filterJSON{
				hookdoc.FieldMediaTypes: {
					Description: "Media types to hear.",
					Values:      slices.Clone(event.MediaTypes)},
			}},
	}
	return types
}
