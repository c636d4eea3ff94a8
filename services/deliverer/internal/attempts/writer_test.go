package attempts_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/testenv"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
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
	rows, err := q.ListAttempts(t.Context(), store.ListAttemptsParams{AccountID: accountID, PageSize: 10_000})
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
	w := attempts.NewWriter(q, slog.New(slog.DiscardHandler), 100, 50*time.Millisecond)
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
