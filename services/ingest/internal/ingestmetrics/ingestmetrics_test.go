package ingestmetrics_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ingestmetrics"
)

func TestReason(t *testing.T) {
	t.Parallel()
	verr := adapter.Invalid("event", adapter.RuleEnum, "must be one of ...")
	verr.Add("call_id", adapter.RuleRequired, "is required")
	for _, c := range []struct {
		err  error
		want string
	}{
		{verr, adapter.RuleEnum},
		{fmt.Errorf("invalid native event: %w", adapter.Invalid("id", adapter.RuleMaxLength, "too long")), adapter.RuleMaxLength},
		{adapter.Invalid("x", "someFutureRule", "?"), ingestmetrics.ReasonOther},
		{errors.New("event too large"), ingestmetrics.ReasonOther},
	} {
		if got := ingestmetrics.Reason(c.err); got != c.want {
			t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestMetricsLintAndCount(t *testing.T) {
	t.Parallel()
	m := ingestmetrics.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	m.Event("native", ingestmetrics.ResultStored)
	m.Event("native", ingestmetrics.ResultStored)
	m.Event("ari", ingestmetrics.ResultRejected)
	m.DeadLetter(adapter.RuleEnum)
	var none *ingestmetrics.Metrics
	none.Event("native", ingestmetrics.ResultStored) // a nil Metrics counts nothing and does not panic
	none.DeadLetter(ingestmetrics.ReasonOther)

	const want = `
# HELP pbxhooks_deadletters_total Rejected PBX input copied to the dead-letter stream, by reason: the failed validation rule, unroutable or other.
# TYPE pbxhooks_deadletters_total counter
pbxhooks_deadletters_total{reason="enum"} 1
# HELP pbxhooks_ingest_events_total PBX events by input format (source: native, freeswitch, ari) and result (stored, duplicate, rejected, ignored, failed).
# TYPE pbxhooks_ingest_events_total counter
pbxhooks_ingest_events_total{result="rejected",source="ari"} 1
pbxhooks_ingest_events_total{result="stored",source="native"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}
