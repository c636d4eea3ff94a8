package ari

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// channelState is what earlier events of one channel said that later ones
// do not repeat: ARI snapshots carry a channel's current dialplan position
// and caller, not how the channel began, and the Dial event that knows a
// leg's outcome is not the ChannelDestroyed that ends it.
type channelState struct {
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

// Channels keeps channelState between the events of a channel. Get reports
// found=false for a channel never saved.
type Channels interface {
	Get(ctx context.Context, key string) (st channelState, found bool, err error)
	Put(ctx context.Context, key string, st channelState) error
}

// KVChannels keeps channel state in a JetStream Key-Value bucket
// (bus.ARIChannelBucket), shared by every ingest replica.
type KVChannels struct {
	KV jetstream.KeyValue
}

// Get reads one channel's state.
func (c KVChannels) Get(ctx context.Context, key string) (channelState, bool, error) {
	entry, err := c.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return channelState{}, false, nil
	}
	if err != nil {
		return channelState{}, false, fmt.Errorf("ari channel state %s: %w", key, err)
	}
	var st channelState
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		// A value this code did not write is treated as absent, and
		// overwritten by the next Put.
		return channelState{}, false, nil
	}
	return st, true, nil
}

// Put stores one channel's state.
func (c KVChannels) Put(ctx context.Context, key string, st channelState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("ari channel state %s: %w", key, err)
	}
	if _, err := c.KV.Put(ctx, key, b); err != nil {
		return fmt.Errorf("ari channel state %s: %w", key, err)
	}
	return nil
}

// stateKey names a channel across PBXs and tenants: channel ids are unique
// only within one Asterisk (asterisk_id), and two tenants' PBXs may reuse
// them. The digest keeps the key within the bucket's key alphabet.
func stateKey(accountID, asteriskID, channelID string) string {
	sum := sha256.Sum256([]byte(accountID + "\x00" + asteriskID + "\x00" + channelID))
	return hex.EncodeToString(sum[:16])
}
