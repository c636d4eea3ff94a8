package fsconn

import "encoding/json"

// channel is what the connector remembers of a live channel to end it
// after a gap: the CHANNEL_CREATE it forwarded (every header, so a
// reconstructed end names the account and parties as the real one would)
// and whether it was answered.
type channel struct {
	Create   json.RawMessage `json:"create"`
	Answered bool            `json:"answered"`
}
