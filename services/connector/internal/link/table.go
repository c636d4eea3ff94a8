package link

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// MaxChannels bounds a channel table: far more calls than one PBX
// carries; past it new channels are not tracked (and not reconstructed).
const MaxChannels = 100_000

// Table is the channels a connector saw begin and not yet end, kept in a
// file of the state directory so a connector restart still knows them;
// the next session's resynchronisation ends those the PBX lost meanwhile.
type Table[C any] struct {
	path     string
	Channels map[string]C
}

// LoadTable reads the table named file in dir; a missing or damaged file
// is an empty table (a damaged one only costs reconstruction). The error
// is a file that exists but cannot be read; the table is usable anyway.
func LoadTable[C any](dir, file string) (*Table[C], error) {
	t := &Table[C]{path: filepath.Join(dir, file), Channels: map[string]C{}}
	b, err := os.ReadFile(t.path)
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("channel table: %w", err)
	}
	if err := json.Unmarshal(b, &t.Channels); err != nil {
		t.Channels = map[string]C{}
	}
	return t, nil
}

// Save writes the table atomically (a temporary file renamed over it).
func (t *Table[C]) Save() error {
	b, err := json.Marshal(t.Channels)
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
