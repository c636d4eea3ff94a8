package attempts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func row(accountID string, i int, result string) store.InsertAttemptsParams {
	return store.InsertAttemptsParams{
		AccountID: accountID, HookID: "hk1", EventID: fmt.Sprintf("ev%d", i), DeliveryID: fmt.Sprintf("ev%d:hk1", i),
		Attempt: 1, RetriesLeft: 0, Result: result, RequestMethod: "POST", RequestUrl: "http://127.0.0.1/",
		RequestHeaders: json.RawMessage(`{}`), CreatedAt: time.Now(),
	}
}

func countRows(t *testing.T, q *store.Queries, accountID string) int {
	t.Helper()
	rows, err := q.ListAttemptsFiltered(t.Context(), store.ListAttemptsFilteredParams{AccountID: accountID, PageSize: 10_000})
	if err != nil {
		t.Fatalf("list attempts: %v", err)
	}
	return len(rows)
}

func TestRecordReturnsOnceTheRowIsCommitted(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	if err := attempts.EnsurePartitions(t.Context(), q); err != nil {
		t.Fatalf("EnsurePartitions: %v", err)
	}
	w := attempts.NewWriter(q, slog.New(slog.DiscardHandler), 100, 2)
	done := make(chan struct{})
	go func() { w.Run(); close(done) }()

	// More rows than one batch, from many goroutines, one of them a row
	// PostgreSQL rejects (result outside the CHECK constraint).
	const n = 250
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			result := "success"
			if i == 17 {
				result = "bogus"
			}
			errs[i] = w.Record(t.Context(), row("acct", i, result))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 17 {
			if err == nil {
				t.Errorf("the invalid row was reported as recorded")
			}
			continue
		}
		if err != nil {
			t.Errorf("row %d: %v", i, err)
		}
	}
	// Every Record that returned nil is visible now, without waiting.
	if got := countRows(t, q, "acct"); got != n-1 {
		t.Fatalf("%d rows committed, want %d", got, n-1)
	}

	w.Stop()
	<-done
	if err := w.Record(t.Context(), row("acct", 999, "success")); !errors.Is(err, attempts.ErrClosed) {
		t.Fatalf("Record after Stop = %v, want ErrClosed", err)
	}
}

// gatedInserter holds every InsertAttempts until released and records the
// size of each batch, so a test can see rows gather while flushes are busy.
type gatedInserter struct {
	inner   attempts.Inserter
	release chan struct{}
	mu      sync.Mutex
	batches []int
}

func (g *gatedInserter) InsertAttempts(ctx context.Context, rows []store.InsertAttemptsParams) (int64, error) {
	g.mu.Lock()
	g.batches = append(g.batches, len(rows))
	g.mu.Unlock()
	<-g.release
	return g.inner.InsertAttempts(ctx, rows)
}

func (g *gatedInserter) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.batches...)
}

// TestRowsGatherWhileEveryFlushIsBusy: the first row is written at once (no
// timer), and rows arriving while the only flush slot is busy go out
// together in the next batch, one COPY for all of them.
func TestRowsGatherWhileEveryFlushIsBusy(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	if err := attempts.EnsurePartitions(t.Context(), q); err != nil {
		t.Fatalf("EnsurePartitions: %v", err)
	}
	gate := &gatedInserter{inner: q, release: make(chan struct{})}
	w := attempts.NewWriter(gate, slog.New(slog.DiscardHandler), 500, 1)
	go w.Run()
	t.Cleanup(w.Stop)

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Record(t.Context(), row("gather", 0, "success")); err != nil {
			t.Errorf("first row: %v", err)
		}
	})
	testenv.Eventually(t, 10*time.Second, "the first batch to reach the gate", func() bool { return len(gate.sizes()) == 1 })
	const more = 40
	for i := 1; i <= more; i++ {
		wg.Go(func() {
			if err := w.Record(t.Context(), row("gather", i, "success")); err != nil {
				t.Errorf("row %d: %v", i, err)
			}
		})
	}
	// Every one of them is waiting inside the writer before the slot frees.
	testenv.Eventually(t, 10*time.Second, "the later rows to be pending", func() bool { return w.Pending() == more })
	close(gate.release)
	wg.Wait()
	if got := gate.sizes(); len(got) != 2 || got[0] != 1 || got[1] != more {
		t.Fatalf("batch sizes %v, want [1 %d]", got, more)
	}
	if got := countRows(t, q, "gather"); got != more+1 {
		t.Fatalf("%d rows committed, want %d", got, more+1)
	}
}
