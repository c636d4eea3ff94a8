package attempts

import (
	"context"
	"fmt"
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
