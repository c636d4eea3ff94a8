// Package chanstate keeps what a PBX channel's earlier events said for the
// events that follow, for the adapters whose input does not repeat it
// (Asterisk ARI and AMI): a JetStream Key-Value bucket shared by every
// ingest replica, read in order by the ordered consumer.
package chanstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// State is what earlier events of one channel said that later ones do not
// repeat: Asterisk reports a channel's current dialplan position and
// caller, not how the channel began, and the Dial event that knows a leg's
// outcome is not the one that ends it.
type State struct {
	// Direction is decided when the channel is first seen and never changes.
	Direction string `json:"direction"`
	// FromNumber and FromName are the last caller ARI reported (in
	// ChannelCreated or ChannelCallerId).
	FromNumber string `json:"from_number,omitempty"`
	FromName   string `json:"from_name,omitempty"`
	// DialStatus is the final dialstatus of a Dial this channel took part
	// in, as caller or as peer.
	DialStatus string `json:"dialstatus,omitempty"`
	// Thread is the linkedid that groups the call's legs.
	Thread string `json:"thread,omitempty"`
}

// Store keeps State between the events of a channel. Get reports
// found=false for a channel never saved.
type Store interface {
	Get(ctx context.Context, key string) (st State, found bool, err error)
	Put(ctx context.Context, key string, st State) error
}

// KV keeps channel state in a JetStream Key-Value bucket
// (bus.ChannelStateBucket), shared by every ingest replica.
type KV struct {
	KV jetstream.KeyValue
}

// Get reads one channel's state.
func (c KV) Get(ctx context.Context, key string) (State, bool, error) {
	entry, err := c.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("channel state %s: %w", key, err)
	}
	var st State
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		// A value this code did not write is treated as absent, and
		// overwritten by the next Put.
		return State{}, false, nil
	}
	return st, true, nil
}

// Put stores one channel's state.
func (c KV) Put(ctx context.Context, key string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("channel state %s: %w", key, err)
	}
	if _, err := c.KV.Put(ctx, key, b); err != nil {
		return fmt.Errorf("channel state %s: %w", key, err)
	}
	return nil
}

// Key names a channel across sources, PBXs and tenants: channel ids are
// unique only within one Asterisk (its asterisk_id, or the AMI
// connection's), and two tenants' PBXs may reuse them. The digest keeps
// the key within the bucket's key alphabet.
func Key(source, accountID, pbxID, channelID string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + accountID + "\x00" + pbxID + "\x00" + channelID))
	return hex.EncodeToString(sum[:16])
}
