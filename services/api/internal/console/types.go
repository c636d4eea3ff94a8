package console

import "encoding/json"

// The API's documents as the console reads them (the REST answers'
// "data"); the OpenAPI document is their definition.

type hook struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	URI                 string          `json:"uri"`
	HTTPVerb            string          `json:"http_verb"`
	Hook                string          `json:"hook"`
	Retries             int             `json:"retries"`
	CustomData          json.RawMessage `json:"custom_data"`
	Enabled             bool            `json:"enabled"`
	Format              string          `json:"format"`
	IncludeInternalLegs bool            `json:"include_internal_legs"`
	CallTypes           []string        `json:"call_types"`
	CallStatuses        []string        `json:"call_statuses"`
	MediaTypes          []string        `json:"media_types"`
	DisableReason       string          `json:"disable_reason"`
	Secret              string          `json:"secret"`
	Revision            int64           `json:"revision"`
	Created             string          `json:"created"`
	Modified            string          `json:"modified"`
}

type attempt struct {
	ID          string `json:"id"`
	HookID      string `json:"hook_id"`
	EventID     string `json:"event_id"`
	DeliveryID  string `json:"delivery_id"`
	Attempt     int    `json:"attempt"`
	RetriesLeft int    `json:"retries_left"`
	Result      string `json:"result"`
	Reason      string `json:"reason"`
	Request     struct {
		Method  string          `json:"method"`
		URL     string          `json:"url"`
		Headers json.RawMessage `json:"headers"`
	} `json:"request"`
	Response *struct {
		Status  int             `json:"status"`
		Headers json.RawMessage `json:"headers"`
		Body    string          `json:"body"`
	} `json:"response"`
	ClientError string `json:"client_error"`
	LatencyMs   int    `json:"latency_ms"`
	Timestamp   string `json:"timestamp"`
}

type hookType struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Filters     map[string]struct {
		Description string   `json:"description"`
		Values      []string `json:"values"`
	} `json:"filters"`
}

type apiToken struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	Created string   `json:"created"`
	Token   string   `json:"token"`
}

type deadLetter struct {
	ID       string `json:"id"`
	Reason   string `json:"reason"`
	Source   string `json:"source"`
	Received string `json:"received"`
	Body     string `json:"body"`
	Size     int    `json:"size_bytes"`
	Trunc    bool   `json:"truncated"`
}

type deliverySettings struct {
	AttemptFailureCount         *int32 `json:"attempt_failure_count"`
	AttemptFailureExpirySeconds *int32 `json:"attempt_failure_expiry_seconds"`
	Modified                    string `json:"modified"`
}

// indexedEvent is one event of the events index (search, timeline,
// preview, live stream).
type indexedEvent struct {
	ID            string          `json:"id"`
	EventID       string          `json:"event_id"`
	Kind          string          `json:"kind"`
	Lifecycle     string          `json:"lifecycle"`
	CallType      string          `json:"call_type"`
	Status        string          `json:"status"`
	MediaType     string          `json:"media_type"`
	MediaID       string          `json:"media_id"`
	IsInternalLeg bool            `json:"is_internal_leg"`
	CallID        string          `json:"call_id"`
	ThreadID      string          `json:"thread_id"`
	From          string          `json:"from"`
	To            string          `json:"to"`
	Direction     string          `json:"direction"`
	Source        string          `json:"source"`
	TestHookID    string          `json:"test_hook_id"`
	OccurredAt    string          `json:"occurred_at"`
	ReceivedAt    string          `json:"received_at"`
	Payload       json.RawMessage `json:"payload"`
}

// timeline is a call's timeline: its events as ingested, each delivery
// with its attempts (oldest first) and its media.
type timeline struct {
	CallID     string         `json:"call_id"`
	Events     []indexedEvent `json:"events"`
	Deliveries []struct {
		DeliveryID string    `json:"delivery_id"`
		HookID     string    `json:"hook_id"`
		EventID    string    `json:"event_id"`
		Result     string    `json:"result"`
		Attempts   []attempt `json:"attempts"`
	} `json:"deliveries"`
	Media []struct {
		MediaID     string `json:"media_id"`
		MediaType   string `json:"media_type"`
		EventID     string `json:"event_id"`
		DownloadURL string `json:"download_url"`
	} `json:"media"`
	Truncated bool `json:"truncated"`
}
