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
