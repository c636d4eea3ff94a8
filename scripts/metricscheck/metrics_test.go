package metricscheck

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// required are the metrics operators and the alert rules rely on
// (docs/OPERATIONS.md); each must be exported by the service named.
var required = map[string][]string{
	"api":       {"pbxhooks_api_requests_total", "pbxhooks_api_request_duration_seconds"},
	"ingest":    {"pbxhooks_ingest_events_total", "pbxhooks_deadletters_total", "pbxhooks_consumer_pending_messages", "pbxhooks_consumer_ack_pending_messages"},
	"matcher":   {"pbxhooks_matcher_deliveries_total", "pbxhooks_consumer_pending_messages", "pbxhooks_consumer_ack_pending_messages"},
	"deliverer": {"pbxhooks_delivery_attempts_total", "pbxhooks_delivery_attempt_duration_seconds", "pbxhooks_event_to_callback_seconds", "pbxhooks_hooks_disabled_total", "pbxhooks_endpoints_parked", "pbxhooks_consumer_pending_messages", "pbxhooks_consumer_ack_pending_messages"},
}

// TestMetrics runs the four services, sends one event that matches a
// healthy hook and a failing one plus one invalid event, and checks what
// /metrics serves before and after: every exposition lints clean, the
// delivery moved the counters it should, no label carries an account, hook
// or URL, and the alert rules and the dashboard name only exported metrics.
func TestMetrics(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	ok := &teststack.Receiver{}
	okServer := httptest.NewServer(ok)
	defer okServer.Close()
	failing := &teststack.Receiver{Status: http.StatusInternalServerError}
	failingServer := httptest.NewServer(failing)
	defer failingServer.Close()

	before := scrapeAll(t, st)

	const account = "acct-metrics-7f3a"
	var hookIDs []string
	for _, uri := range []string{okServer.URL + "/calls", failingServer.URL + "/calls"} {
		var created struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		status := st.API(t, http.MethodPut, "/v1/accounts/"+account+"/webhooks",
			`{"data":{"name":"metrics","uri":"`+uri+`","http_verb":"post","hook":"channel_create","format":"json","retries":0}}`, &created)
		if status != http.StatusCreated {
			t.Fatalf("create hook for %s: status %d", uri, status)
		}
		hookIDs = append(hookIDs, created.Data.ID)
	}
	eventsURL := st.URL("ingest") + "/v1/accounts/" + account + "/events"
	pbx := http.Header{"X-Auth-Token": {st.Cfg.AdminToken}}
	if status := teststack.Call(t, http.MethodPost, eventsURL,
		`{"event":"channel_create","id":"metrics-evt-1","call_id":"c1","direction":"inbound","from":"+15550001111","to":"5010"}`,
		pbx, nil); status != http.StatusAccepted {
		t.Fatalf("POST event: %d", status)
	}
	if status := teststack.Call(t, http.MethodPost, eventsURL, `{"event":"no_such_event","call_id":"c2"}`, pbx, nil); status != http.StatusBadRequest {
		t.Fatalf("POST invalid event: %d, want 400", status)
	}
	testenv.Eventually(t, 30*time.Second, "both attempts recorded", func() bool {
		var attempts struct {
			Data []struct{} `json:"data"`
		}
		st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/attempts", "", &attempts)
		return len(attempts.Data) == 2
	})
	if len(ok.Calls()) != 1 || len(failing.Calls()) != 1 {
		t.Fatalf("callbacks: %d to the healthy endpoint, %d to the failing one; want 1 each", len(ok.Calls()), len(failing.Calls()))
	}
	// The deliverer counts an attempt as it records it; the API showed
	// both rows, so one more scrape sees them.
	after := scrapeAll(t, st)

	t.Run("lint", func(t *testing.T) {
		for _, svc := range services {
			problems, err := promlint.New(strings.NewReader(after.text[svc])).Lint()
			if err != nil {
				t.Fatalf("%s: %v", svc, err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s: %s", svc, p.Metric, p.Text)
			}
		}
	})

	t.Run("required metrics exported", func(t *testing.T) {
		for svc, names := range required {
			for _, name := range names {
				if after.families[svc][name] == nil {
					t.Errorf("%s does not export %s", svc, name)
				}
			}
		}
	})

	t.Run("a delivery moves them", func(t *testing.T) {
		moved := []struct {
			svc, family string
			labels      map[string]string
			delta       float64
		}{
			{"api", "pbxhooks_api_requests_total", map[string]string{"method": "PUT", "route": "/v1/accounts/:account_id/webhooks", "code": "201"}, 2},
			{"api", "pbxhooks_api_request_duration_seconds", map[string]string{"method": "PUT", "route": "/v1/accounts/:account_id/webhooks"}, 2},
			{"ingest", "pbxhooks_ingest_events_total", map[string]string{"source": "native", "result": "stored"}, 1},
			{"ingest", "pbxhooks_ingest_events_total", map[string]string{"source": "native", "result": "rejected"}, 1},
			{"ingest", "pbxhooks_deadletters_total", map[string]string{"reason": "enum"}, 1},
			{"matcher", "pbxhooks_matcher_deliveries_total", nil, 2},
			{"deliverer", "pbxhooks_delivery_attempts_total", map[string]string{"result": "success"}, 1},
			{"deliverer", "pbxhooks_delivery_attempts_total", map[string]string{"result": "http_5xx"}, 1},
			{"deliverer", "pbxhooks_delivery_attempt_duration_seconds", nil, 2},
			{"deliverer", "pbxhooks_event_to_callback_seconds", nil, 1},
		}
		for _, m := range moved {
			got := after.value(m.svc, m.family, m.labels) - before.value(m.svc, m.family, m.labels)
			if got != m.delta {
				t.Errorf("%s %s%v moved by %v, want %v", m.svc, m.family, m.labels, got, m.delta)
			}
		}
		for _, c := range []struct{ svc, stream, consumer string }{
			{"ingest", "PBX", "ingest"}, {"matcher", "EVENTS", "matcher"},
			{"deliverer", "DELIVERIES", "deliverer"}, {"deliverer", "PARKED", "deliverer-parked"},
		} {
			labels := map[string]string{"stream": c.stream, "consumer": c.consumer}
			for _, family := range []string{"pbxhooks_consumer_pending_messages", "pbxhooks_consumer_ack_pending_messages"} {
				if !after.has(c.svc, family, labels) {
					t.Errorf("%s does not report %s%v", c.svc, family, labels)
				}
			}
		}
	})

	t.Run("bounded labels", func(t *testing.T) {
		secret := append([]string{account, okServer.URL, failingServer.URL, strings.TrimPrefix(okServer.URL, "http://")}, hookIDs...)
		for _, lv := range after.labelValues() {
			for _, s := range secret {
				if strings.Contains(lv, s) {
					t.Errorf("label %s carries %q: labels must not name accounts, hooks or URLs", lv, s)
				}
			}
		}
	})

	names := after.seriesNames()
	t.Run("alert rules", func(t *testing.T) { checkAlertRules(t, names) })
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, names) })
}
