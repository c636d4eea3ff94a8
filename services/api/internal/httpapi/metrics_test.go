package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// Requests are counted by route template, never by the raw path with its
// account and hook ids, and /metrics serves the registry.
func TestRequestMetricsUseRouteTemplates(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(d *httpapi.Deps) { d.Metrics = reg })
	hook := h.createHook(t, "acct-metrics", `{"data":{"name":"m","uri":"https://example.com/h","hook":"channel_create"}}`)
	h.do(t, http.MethodGet, "/v1/accounts/acct-metrics/webhooks/"+hook["id"].(string), adminToken, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, "/v1/accounts/acct-metrics/webhooks/00000000000000000000000000000000", adminToken, "").expect(t, http.StatusNotFound)
	h.do(t, http.MethodGet, "/no/such/route/acct-metrics", adminToken, "").expect(t, http.StatusNotFound)

	const want = `
# HELP pbxhooks_api_requests_total API requests by method, route template (as /v1/accounts/:account_id/webhooks) and status code.
# TYPE pbxhooks_api_requests_total counter
pbxhooks_api_requests_total{code="200",method="GET",route="/v1/accounts/:account_id/webhooks/:webhook_id"} 1
pbxhooks_api_requests_total{code="201",method="PUT",route="/v1/accounts/:account_id/webhooks"} 1
pbxhooks_api_requests_total{code="404",method="GET",route="/v1/accounts/:account_id/webhooks/:webhook_id"} 1
pbxhooks_api_requests_total{code="404",method="GET",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pbxhooks_api_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "pbxhooks_api_request_duration_seconds"); n != 3 {
		t.Errorf("%d duration series (one per method and route), want 3", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}

	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `pbxhooks_api_requests_total{code="201",method="PUT"`) {
		t.Fatalf("GET /metrics = %d:\n%s", resp.StatusCode, body)
	}
}
