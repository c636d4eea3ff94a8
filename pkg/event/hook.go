package event

import "slices"

// Hook types: what a hook's "hook" field selects. The API accepts exactly
// these, the matcher matches on them, so both import them from here. The
// Kazoo lifecycles (Lifecycles) are hook types of their own.
const (
	// HookAll hears every call event, whatever its lifecycle.
	HookAll = "all"
	// HookCall is a Spoke call hook, filtered by call type and status.
	HookCall = KindCall
	// HookMedia is a Spoke media hook, filtered by media type.
	HookMedia = KindMedia
)

// HookTypes lists every value a hook's "hook" field takes.
var HookTypes = append(slices.Clone(Lifecycles), HookAll, HookCall, HookMedia)

// HTTP verbs a hook may use, stored lower case as Kazoo does; the
// deliverer sends the payload as a query string for get, as a body
// otherwise.
const (
	VerbGet  = "get"
	VerbPost = "post"
	VerbPut  = "put"
)

// HTTPVerbs lists every value a hook's "http_verb" field takes.
var HTTPVerbs = []string{VerbGet, VerbPost, VerbPut}

// Payload formats of a hook's request body.
const (
	FormatFormData = "form-data"
	FormatJSON     = "json"
)

// Formats lists every value a hook's "format" field takes.
var Formats = []string{FormatFormData, FormatJSON}

// Defaults of a hook with no verb or format: Kazoo's, so Kazoo clients see
// the requests they expect. The API stores them; the renderer falls back to
// them for rows written before the API filled them in.
const (
	DefaultHTTPVerb = VerbPost
	DefaultFormat   = FormatFormData
)
