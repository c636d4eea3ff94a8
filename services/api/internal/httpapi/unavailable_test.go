package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
)

// TestDatabaseOutageAnswers503: while PostgreSQL cannot be reached the API
// answers 503 with Retry-After in its error format, not 500, so clients and
// load balancers retry.
func TestDatabaseOutageAnswers503(t *testing.T) {
	t.Parallel()
	// A real refused connection: nothing listens on a port just found free.
	port, err := pgcluster.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	down, err := pgxpool.New(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	h := newHarness(t, func(d *httpapi.Deps) { d.Pool = down })

	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/accounts/acct1/webhooks", ""},
		{http.MethodPut, "/v1/accounts/acct1/webhooks", wirecloudBody},
		{http.MethodGet, "/v1/accounts/acct1/webhooks/attempts", ""},
	} {
		r := h.do(t, req.method, req.path, adminToken, req.body)
		r.expectError(t, http.StatusServiceUnavailable, "", "")
		if got := r.header.Get("Retry-After"); got != "5" {
			t.Errorf("%s %s: Retry-After %q, want 5", req.method, req.path, got)
		}
	}
	// An account token cannot even be looked up: still 503, not 401 or 500.
	h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks", "pbxt_not-checkable-now", "").
		expectError(t, http.StatusServiceUnavailable, "", "")
}
