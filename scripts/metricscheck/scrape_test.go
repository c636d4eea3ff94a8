package metricscheck

import (
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
)

// services are the four processes, each serving /metrics beside /readyz.
var services = []string{"api", "ingest", "matcher", "deliverer"}

// scrape is one GET /metrics of every service: its raw text and families.
type scrape struct {
	text     map[string]string
	families map[string]map[string]*dto.MetricFamily
}

func scrapeAll(t *testing.T, st *teststack.Stack) scrape {
	t.Helper()
	s := scrape{text: map[string]string{}, families: map[string]map[string]*dto.MetricFamily{}}
	for _, svc := range services {
		resp, err := http.Get(st.URL(svc) + "/metrics")
		if err != nil {
			t.Fatalf("GET %s/metrics: %v", svc, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/metrics: %d %v", svc, resp.StatusCode, err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s /metrics Content-Type %q, want the Prometheus text format", svc, ct)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("%s /metrics is not valid Prometheus text: %v", svc, err)
		}
		s.text[svc], s.families[svc] = string(body), fams
	}
	return s
}

// value sums the samples of a counter or gauge family of svc whose labels
// include want (a histogram's sample count for histograms), 0 when absent.
func (s scrape) value(svc, family string, want map[string]string) float64 {
	mf := s.families[svc][family]
	if mf == nil {
		return 0
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func (s scrape) has(svc, family string, want map[string]string) bool {
	for _, m := range s.families[svc][family].GetMetric() {
		if hasLabels(m, want) {
			return true
		}
	}
	return false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// seriesNames are the names a PromQL selector may use for what the
// services export: a histogram family X is the series X_bucket, X_sum and
// X_count.
func (s scrape) seriesNames() map[string]bool {
	names := map[string]bool{}
	for _, fams := range s.families {
		for name, mf := range fams {
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			case dto.MetricType_SUMMARY:
				names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
			default:
				names[name] = true
			}
		}
	}
	return names
}

// labelValues lists every label value the services export, to look for
// values whose number has no bound.
func (s scrape) labelValues() []string {
	seen := map[string]bool{}
	for _, fams := range s.families {
		for _, mf := range fams {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					seen[l.GetName()+"="+l.GetValue()] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
