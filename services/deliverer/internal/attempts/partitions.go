package attempts

import (
	"context"

	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// EnsurePartitions creates the attempt partitions from today to
// store.PartitionDaysAhead.
func EnsurePartitions(ctx context.Context, q *store.Queries) error {
	return store.EnsurePartitions(ctx, q, store.AttemptsTable)
}
