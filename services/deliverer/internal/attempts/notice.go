package attempts

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Announcer records attempts with Writer and, after each attempt is committed, publishes
// a bus.AttemptNotice on core NATS for the API's live stream. The notice
// is best effort: a failed publish is logged and never fails the attempt,
// whose record is the attempts table.
type Announcer struct {
	Writer *Writer
	NATS   *nats.Conn
	Log    *slog.Logger
}

// Record stores row, then announces it.
func (a *Announcer) Record(ctx context.Context, row store.InsertAttemptsParams) error {
	if err := a.Writer.Record(ctx, row); err != nil {
		return err
	}
	subject, err := bus.AttemptNoticeSubject(row.AccountID, row.HookID)
	if err != nil {
		return nil // not a routable account or hook id: nobody can listen for it
	}
	notice := bus.AttemptNotice{
		AccountID: row.AccountID, HookID: row.HookID, EventID: row.EventID, DeliveryID: row.DeliveryID,
		Attempt: row.Attempt, Result: row.Result, Reason: row.Reason, LatencyMs: row.LatencyMs, At: row.CreatedAt,
	}
	if row.ResponseStatus != nil {
		notice.Status = *row.ResponseStatus
	}
	body, err := json.Marshal(notice)
	if err == nil {
		err = a.NATS.Publish(subject, body)
	}
	if err != nil {
		a.Log.WarnContext(ctx, "attempt notice not published", telemetry.KeySubject, subject, telemetry.KeyError, err)
	}
	return nil
}
