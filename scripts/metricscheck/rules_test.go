package metricscheck

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Files checked, relative to this directory.
const (
	alertsFile         = "../../deployments/prometheus/alerts.yml"
	prometheusRuleFile = "../../deployments/k8s/components/monitoring/prometheusrule.yaml"
	dashboardFile      = "../../deployments/grafana/pbxhooks-dashboard.json"
)

var promql = parser.NewParser(parser.Options{})

// checkAlertRules validates alerts.yml as Prometheus loads it (rulefmt),
// checks that every expression names only exported metrics, and that the
// PrometheusRule holds exactly the same groups.
func checkAlertRules(t *testing.T, exported map[string]bool) {
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("alerts.yml: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			checkExpr(t, "alert "+r.Alert, r.Expr, exported)
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity label", r.Alert)
			}
		}
	}
	if alerts < 5 {
		t.Errorf("alerts.yml has %d alerts", alerts)
	}

	var file struct {
		Groups any `yaml:"groups"`
	}
	var rule struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, alertsFile, &file)
	readYAML(t, prometheusRuleFile, &rule)
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
		t.Errorf("%s is %s %s, want a monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, rule.APIVersion, rule.Kind)
	}
	if !reflect.DeepEqual(file.Groups, rule.Spec.Groups) {
		t.Errorf("the PrometheusRule's spec.groups differ from alerts.yml's groups: copy alerts.yml's groups into %s", prometheusRuleFile)
	}
}

// grafanaVariables stand in for the variables Grafana fills in before it
// sends a query, so the query parses as Prometheus will receive it.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// checkDashboard checks every query of every panel of the dashboard.
func checkDashboard(t *testing.T, exported map[string]bool) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || len(dash.Panels) < 8 {
		t.Fatalf("dashboard uid %q with %d panels", dash.UID, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			checkExpr(t, "panel "+p.Title, grafanaVariables.Replace(target.Expr), exported)
		}
	}
}

// checkExpr parses expr with Prometheus's parser and checks that each
// selector names an exported series.
func checkExpr(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	node, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	selectors := 0
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		selectors++
		if !exported[vs.Name] {
			t.Errorf("%s: %q names %q, which no service exports", where, expr, vs.Name)
		}
		return nil
	})
	if selectors == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
}

func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
