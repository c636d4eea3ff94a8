// Package forward publishes the spooled PBX events to JetStream, oldest
// first, one at a time, each removed from the spool only once JetStream
// acknowledged storing it: order is the PBX's and nothing is lost while
// NATS is unreachable.
package forward

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
)

// Publish timeouts and retry backoff.
const (
	DefaultPublishTimeout = 5 * time.Second
	retryMin              = 100 * time.Millisecond
	retryMax              = 2 * time.Second
)

// Forwarder drains a spool into JetStream.
type Forwarder struct {
	Spool *spool.Spool
	JS    jetstream.JetStream
	Log   *slog.Logger
	// PublishTimeout bounds the wait for one acknowledgement.
	PublishTimeout time.Duration
	// Published counts acknowledged messages; Failures failed attempts.
	// Either may be nil.
	Published, Failures func()

	// up is whether the last publish attempt was acknowledged.
	up atomic.Bool
}

// Ready reports whether NATS acknowledged the last publish (or nothing
// was tried yet and nothing waits).
func (f *Forwarder) Ready(context.Context) error {
	if f.up.Load() || f.Spool.Len() == 0 {
		return nil
	}
	return errors.New("JetStream does not acknowledge the spooled events")
}

// Run forwards until ctx is cancelled.
func (f *Forwarder) Run(ctx context.Context) error {
	f.up.Store(true)
	wait := retryMin
	for {
		rec, ok, more, err := f.Spool.Oldest()
		switch {
		case err != nil && !errors.Is(err, spool.ErrCorrupt):
			return err
		case err != nil:
			// A record this code cannot read would block the queue for
			// ever: drop it, loudly.
			f.Log.ErrorContext(ctx, "unreadable spool record dropped", telemetry.KeyError, err)
			if rerr := f.dropOldest(); rerr != nil {
				return rerr
			}
			continue
		case !ok:
			select {
			case <-ctx.Done():
				return nil
			case <-more:
			}
			continue
		}
		if err := f.publish(ctx, rec); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			f.up.Store(false)
			if f.Failures != nil {
				f.Failures()
			}
			f.Log.WarnContext(ctx, "publish failed; the event stays spooled", telemetry.KeySubject, rec.Subject,
				"retry_in", wait.String(), telemetry.KeyError, err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			wait = min(wait*2, retryMax)
			continue
		}
		wait = retryMin
		f.up.Store(true)
		if f.Published != nil {
			f.Published()
		}
		if err := f.Spool.Remove(rec.Seq); err != nil {
			return err
		}
	}
}

func (f *Forwarder) publish(ctx context.Context, rec spool.Record) error {
	timeout := f.PublishTimeout
	if timeout <= 0 {
		timeout = DefaultPublishTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := f.JS.PublishMsg(ctx, &nats.Msg{Subject: rec.Subject, Data: rec.Data}, jetstream.WithMsgID(rec.MsgID))
	return err
}

func (f *Forwarder) dropOldest() error { return f.Spool.RemoveOldest() }
