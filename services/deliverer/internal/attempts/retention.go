package attempts

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// DefaultRetention is how long attempts are kept (DELIVERY_ATTEMPT_RETENTION).
const DefaultRetention = 30 * 24 * time.Hour

// NewMaintenance keeps the attempts table in shape: tomorrow's partitions
// exist, and attempts older than retention are gone (see
// store.PartitionMaintenance, which the events index shares).
func NewMaintenance(pool *pgxpool.Pool, retention time.Duration, log *slog.Logger) *store.PartitionMaintenance {
	return &store.PartitionMaintenance{Pool: pool, Table: store.AttemptsTable, Retention: retention, Log: log}
}
