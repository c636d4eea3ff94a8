package attempts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// PartitionCreator makes the daily attempt partitions; *store.Queries
// implements it.
type PartitionCreator interface {
	EnsureAttemptPartitions(ctx context.Context, daysAhead int32) error
}

// PartitionDaysAhead is how many days of partitions exist ahead of today, so
// a deliverer down for a couple of days still finds its partition.
const PartitionDaysAhead = 3

// EnsurePartitions creates the partitions from today to PartitionDaysAhead.
func EnsurePartitions(ctx context.Context, db PartitionCreator) error {
	if err := db.EnsureAttemptPartitions(ctx, PartitionDaysAhead); err != nil {
		return fmt.Errorf("ensure attempt partitions: %w", err)
	}
	return nil
}

// MaintainPartitions calls EnsurePartitions every interval until ctx ends. A
// failure is logged and retried next time: rows without a partition still
// land in attempts_default.
func MaintainPartitions(ctx context.Context, db PartitionCreator, every time.Duration, log *slog.Logger) error {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if err := EnsurePartitions(ctx, db); err != nil && ctx.Err() == nil {
				log.ErrorContext(ctx, "attempt partition maintenance failed", telemetry.KeyError, err)
			}
		}
	}
}
