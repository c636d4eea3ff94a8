package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"go.yaml.in/yaml/v3"
)

// The otel profile adds an OpenTelemetry collector whose configuration
// receives OTLP/HTTP on the port the services are told to export to, and is
// off unless asked for.
func TestOtelProfileAddsACollector(t *testing.T) {
	project, root := loadProject(t)
	if slices.Contains(project.ServiceNames(), "otel-collector") {
		t.Fatal("the collector runs without --profile otel")
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("pbxhooks"), cli.WithEnv([]string{}), cli.WithProfiles([]string{"otel"}))
	if err != nil {
		t.Fatal(err)
	}
	withOtel, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	collector, ok := withOtel.Services["otel-collector"]
	if !ok {
		t.Fatalf("--profile otel has no otel-collector service: %v", withOtel.ServiceNames())
	}
	var configPath string
	for _, v := range collector.Volumes {
		if v.Target == "/etc/otelcol/collector.yaml" {
			configPath = v.Source
		}
	}
	if configPath == "" || !slices.Contains(collector.Command, "--config=/etc/otelcol/collector.yaml") {
		t.Fatalf("collector volumes %+v command %v: want deployments/otel/collector.yaml mounted and used", collector.Volumes, collector.Command)
	}
	raw, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Receivers struct {
			OTLP struct {
				Protocols struct {
					HTTP struct {
						Endpoint string `yaml:"endpoint"`
					} `yaml:"http"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
		Service struct {
			Pipelines map[string]struct {
				Receivers []string `yaml:"receivers"`
				Exporters []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", configPath, err)
	}
	if cfg.Receivers.OTLP.Protocols.HTTP.Endpoint != "0.0.0.0:4318" {
		t.Errorf("collector OTLP/HTTP endpoint %q, want 0.0.0.0:4318", cfg.Receivers.OTLP.Protocols.HTTP.Endpoint)
	}
	traces := cfg.Service.Pipelines["traces"]
	if !slices.Contains(traces.Receivers, "otlp") || len(traces.Exporters) == 0 {
		t.Errorf("collector traces pipeline %+v, want otlp in and an exporter out", traces)
	}
	for _, svc := range []string{"api", "ingest", "matcher", "deliverer"} {
		if _, ok := withOtel.Services[svc].Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; !ok {
			t.Errorf("%s does not pass OTEL_EXPORTER_OTLP_ENDPOINT through", svc)
		}
	}
}
