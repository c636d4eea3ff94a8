// Command dashboardpng draws the Grafana dashboard's panels from a running
// pbxhooks, without Grafana: it scrapes every service's /metrics at an
// interval into a local Prometheus TSDB, evaluates each panel's own PromQL
// queries over that data with Prometheus's engine, and plots the series into
// one PNG, two panels a row, in the dashboard's order. docs/OPERATIONS.md's
// picture is made this way from `make run` under load.
//
//	go run ./cmd/dashboardpng -duration 5m -out ../../docs/dashboard.png
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboardpng:", err)
		os.Exit(1)
	}
}

type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title       string `json:"title"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

func run() error {
	dashFile := flag.String("dashboard", "../../deployments/grafana/pbxhooks-dashboard.json", "Grafana dashboard JSON")
	targets := flag.String("targets", "http://127.0.0.1:8080/metrics,http://127.0.0.1:8081/metrics,http://127.0.0.1:8082/metrics,http://127.0.0.1:8083/metrics", "comma-separated /metrics URLs")
	duration := flag.Duration("duration", 5*time.Minute, "how long to scrape")
	interval := flag.Duration("interval", 2*time.Second, "scrape interval")
	rateWindow := flag.Duration("rate-interval", 30*time.Second, "what $__rate_interval stands for")
	out := flag.String("out", "dashboard.png", "PNG to write")
	flag.Parse()

	raw, err := os.ReadFile(*dashFile)
	if err != nil {
		return err
	}
	var dash dashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		return fmt.Errorf("%s: %w", *dashFile, err)
	}
	dir, err := os.MkdirTemp("", "dashboardpng-tsdb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return fmt.Errorf("open TSDB: %w", err)
	}
	defer db.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	urls := strings.Split(*targets, ",")
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	scrapes := 0
	for time.Since(start) < *duration && ctx.Err() == nil {
		now := time.Now()
		app := db.Appender(ctx)
		for _, u := range urls {
			if err := scrapeInto(ctx, app, u, now); err != nil {
				fmt.Fprintln(os.Stderr, "scrape:", err)
			}
		}
		if err := app.Commit(); err != nil {
			return fmt.Errorf("commit samples: %w", err)
		}
		scrapes++
		select {
		case <-ctx.Done():
		case <-ticker.C:
		}
	}
	end := time.Now()
	fmt.Fprintf(os.Stderr, "%d scrapes of %d targets over %s\n", scrapes, len(urls), end.Sub(start).Round(time.Second))

	engine := promql.NewEngine(promql.EngineOpts{
		Logger: slog.New(slog.DiscardHandler), MaxSamples: 50_000_000, Timeout: time.Minute,
		LookbackDelta: 5 * time.Minute,
	})
	variables := strings.NewReplacer("$__rate_interval", model.Duration(*rateWindow).String(), "$__interval", model.Duration(*interval).String())
	var plots []*plot.Plot
	for _, panel := range dash.Panels {
		p := plot.New()
		p.Title.Text = panel.Title
		p.X.Tick.Marker = plot.TimeTicks{Format: "15:04"}
		p.Y.Label.Text = unitLabel(panel.FieldConfig.Defaults.Unit)
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
		n := 0
		for _, target := range panel.Targets {
			q, err := engine.NewRangeQuery(ctx, db, nil, variables.Replace(target.Expr), start, end, *interval)
			if err != nil {
				return fmt.Errorf("panel %q: %w", panel.Title, err)
			}
			res := q.Exec(ctx)
			if res.Err != nil {
				return fmt.Errorf("panel %q: %w", panel.Title, res.Err)
			}
			matrix, err := res.Matrix()
			if err != nil {
				return fmt.Errorf("panel %q: %w", panel.Title, err)
			}
			sort.Slice(matrix, func(i, j int) bool { return labels.Compare(matrix[i].Metric, matrix[j].Metric) < 0 })
			for _, series := range matrix {
				xys := make(plotter.XYs, 0, len(series.Floats))
				for _, f := range series.Floats {
					if math.IsNaN(f.F) || math.IsInf(f.F, 0) {
						continue
					}
					xys = append(xys, plotter.XY{X: float64(f.T) / 1000, Y: f.F})
				}
				if len(xys) == 0 {
					continue
				}
				line, err := plotter.NewLine(xys)
				if err != nil {
					return err
				}
				line.Color = palette[n%len(palette)]
				line.Width = vg.Points(1.5)
				p.Add(line)
				p.Legend.Add(legend(target.LegendFormat, series.Metric), line)
				n++
			}
			q.Close()
		}
		if n == 0 {
			p.Title.Text += " (no data)"
		}
		plots = append(plots, p)
	}
	return draw2Columns(plots, *out)
}

// scrapeInto appends one scrape of url to app, as Prometheus would store
// it: histograms as _bucket, _sum and _count series, every series with an
// instance label.
func scrapeInto(ctx context.Context, app storage.Appender, url string, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	instance := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")
	ts := at.UnixMilli()
	var errs []error
	add := func(name string, m *dto.Metric, extra map[string]string, v float64) {
		lbls := map[string]string{"__name__": name, "instance": instance}
		for _, l := range m.GetLabel() {
			lbls[l.GetName()] = l.GetValue()
		}
		for k, val := range extra {
			lbls[k] = val
		}
		if _, err := app.Append(0, labels.FromMap(lbls), ts, v); err != nil {
			errs = append(errs, err)
		}
	}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				add(name, m, nil, m.GetCounter().GetValue())
			case m.GetGauge() != nil:
				add(name, m, nil, m.GetGauge().GetValue())
			case m.GetUntyped() != nil:
				add(name, m, nil, m.GetUntyped().GetValue())
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					add(name+"_bucket", m, map[string]string{"le": model.FloatString(b.GetUpperBound()).String()}, float64(b.GetCumulativeCount()))
				}
				add(name+"_bucket", m, map[string]string{"le": "+Inf"}, float64(h.GetSampleCount()))
				add(name+"_sum", m, nil, h.GetSampleSum())
				add(name+"_count", m, nil, float64(h.GetSampleCount()))
			case m.GetSummary() != nil:
				add(name+"_sum", m, nil, m.GetSummary().GetSampleSum())
				add(name+"_count", m, nil, float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	return errors.Join(errs...)
}

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// legend fills Grafana's {{label}} placeholders from a series' labels.
func legend(format string, l labels.Labels) string {
	if format == "" {
		return l.String()
	}
	return legendLabel.ReplaceAllStringFunc(format, func(m string) string {
		return l.Get(legendLabel.FindStringSubmatch(m)[1])
	})
}

func unitLabel(unit string) string {
	switch unit {
	case "ops":
		return "per second"
	case "reqps":
		return "requests per second"
	case "s":
		return "seconds"
	default:
		return ""
	}
}

// palette has a colour for each of the most series one panel shows (the
// twelve attempt results), so no two lines of a panel share one.
var palette = []color.Color{
	rgb(0x73bf69), rgb(0xf2cc0c), rgb(0x5794f2), rgb(0xff780a), rgb(0xf2495c), rgb(0xb877d9),
	rgb(0x37872d), rgb(0x1f60c4), rgb(0x8f3bb8), rgb(0xc4162a), rgb(0x8ab8ff), rgb(0x6e5d40),
}

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// draw2Columns lays the panels out two a row, as the dashboard does, and
// writes the PNG.
func draw2Columns(plots []*plot.Plot, out string) error {
	const cols = 2
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	img := vgimg.New(vg.Points(1200), vg.Points(float64(rows)*260))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(12), PadY: vg.Points(12),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			if grid[i][j] != nil {
				grid[i][j].Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
