package fsconn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// maxChannels bounds the table: far more calls than one FreeSWITCH
// carries; past it new channels are not tracked (and not reconstructed).
const maxChannels = 100_000

// channel is what the connector remembers of a live channel to end it
// after a gap: the CHANNEL_CREATE it forwarded (every header, so a
// reconstructed end names the account and parties as the real one would)
// and whether it was answered.
type channel struct {
	Create   json.RawMessage `json:"create"`
	Answered bool            `json:"answered"`
}

// table is the channels the connector saw begin and not yet end, kept in
// a file beside the spool so a connector restart still knows them.
type table struct {
	path     string
	channels map[string]*channel
}

func loadTable(dir string) (*table, error) {
	t := &table{path: filepath.Join(dir, "channels.json"), channels: map[string]*channel{}}
	b, err := os.ReadFile(t.path)
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("channel table: %w", err)
	}
	if err := json.Unmarshal(b, &t.channels); err != nil {
		// A damaged table only costs reconstruction; start empty.
		t.channels = map[string]*channel{}
	}
	return t, nil
}

func (t *table) save() error {
	b, err := json.Marshal(t.channels)
	if err != nil {
		return fmt.Errorf("channel table: %w", err)
	}
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("channel table: %w", err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return fmt.Errorf("channel table: %w", err)
	}
	return nil
}
