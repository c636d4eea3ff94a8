// Package link is what every PBX connector shares: the reconnect loop
// around one PBX session, the spool every event goes to first, and the
// readiness of the PBX side.
package link

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
)

// Reconnection backoff, and the spool fill (as a fraction) under which a
// connector that left the PBX because the spool was full attaches again.
const (
	backoffMin  = 250 * time.Millisecond
	backoffMax  = 30 * time.Second
	resumeBelow = 0.9
)

// ErrSpoolFull ends a session: the connector stops reading rather than
// lose events silently; the next session's resynchronisation ends the
// calls whose events the PBX dropped meanwhile.
var ErrSpoolFull = errors.New("spool full: disconnected from the PBX until the spool drains")

// ErrRefused marks a session error no retry soon will fix (a refused
// password): still retried, but logged as an error.
var ErrRefused = errors.New("refused by the PBX")

// Metrics are the counters every connector keeps; nil counts nothing.
type Metrics struct {
	Spooled       func()
	Reconstructed func(lifecycle string)
	SpoolFull     func()
}

// Link is one PBX attachment's shared state.
type Link struct {
	// Subject is where this PBX's events go (pbx.<kind>.<account>).
	Subject string
	Spool   *spool.Spool
	Log     *slog.Logger
	Metrics Metrics

	connected atomic.Bool
}

// Ready reports whether the PBX session is up.
func (l *Link) Ready(context.Context) error {
	if !l.connected.Load() {
		return errors.New("not connected to the PBX")
	}
	return nil
}

// SetConnected records that a session is attached (true) or not.
func (l *Link) SetConnected(up bool) { l.connected.Store(up) }

// Append spools one event on Subject; a full spool is ErrSpoolFull.
func (l *Link) Append(body []byte) error {
	err := l.Spool.Append(l.Subject, body)
	if errors.Is(err, spool.ErrFull) {
		if l.Metrics.SpoolFull != nil {
			l.Metrics.SpoolFull()
		}
		return ErrSpoolFull
	}
	if err != nil {
		return err
	}
	if l.Metrics.Spooled != nil {
		l.Metrics.Spooled()
	}
	return nil
}

// Reconstructed counts one made-up event.
func (l *Link) Reconstructed(lifecycle string) {
	if l.Metrics.Reconstructed != nil {
		l.Metrics.Reconstructed(lifecycle)
	}
}

// Run runs session until ctx is cancelled, again after each end, with
// backoff; after a full spool it first waits for the spool to drain.
func (l *Link) Run(ctx context.Context, pbx string, session func(context.Context) error) {
	wait := backoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := session(ctx)
		l.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, ErrRefused):
			l.Log.ErrorContext(ctx, pbx+" refused the connector", telemetry.KeyError, err)
		case errors.Is(err, ErrSpoolFull):
			l.Log.ErrorContext(ctx, "spool full; disconnected from "+pbx, telemetry.KeyError, err)
			l.waitForRoom(ctx)
		default:
			l.Log.WarnContext(ctx, pbx+" session lost", telemetry.KeyError, err)
		}
		if time.Since(started) > backoffMax {
			wait = backoffMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, backoffMax)
	}
}

func (l *Link) waitForRoom(ctx context.Context) {
	for float64(l.Spool.Bytes()) > resumeBelow*float64(l.Spool.MaxBytes()) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
