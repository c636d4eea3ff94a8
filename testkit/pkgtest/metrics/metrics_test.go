package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestHandlerServesTheRegistry(t *testing.T) {
	t.Parallel()
	reg, err := metrics.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pbxhooks_test_total", Help: "A test counter."})
	if err := metrics.Register(reg, c); err != nil {
		t.Fatal(err)
	}
	if err := metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "pbxhooks_test_total", Help: "Again."})); err == nil {
		t.Fatal("a second metric of the same name was registered")
	}
	c.Add(3)
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), "pbxhooks_test_total 3") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("GET /metrics = %d:\n%s", rec.Code, body)
	}
}

func TestConsumerLag(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	ctx := t.Context()
	// Three deliveries stored; one fetched and left unacknowledged.
	for range 3 {
		if _, err := js.Publish(ctx, "deliveries.acct.hook1", []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamDeliveries, jetstream.ConsumerConfig{
		Durable: bus.ConsumerDeliverer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Fetch(1); err != nil {
		t.Fatal(err)
	}
	// Two parked endpoints' consumers, summed under one label.
	for i, subject := range []string{"parked.YQ", "parked.Yg"} {
		for range i + 1 {
			if _, err := js.Publish(ctx, subject, []byte("p")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := js.CreateOrUpdateConsumer(ctx, bus.StreamParked, jetstream.ConsumerConfig{
			Durable: "p" + subject[len("parked."):], FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy,
		}); err != nil {
			t.Fatal(err)
		}
	}

	lag := metrics.NewConsumerLag(js, time.Hour,
		metrics.Consumer{Stream: bus.StreamDeliveries, Durable: bus.ConsumerDeliverer},
		metrics.Consumer{Stream: bus.StreamParked, Durable: "deliverer-parked", WholeStream: true},
		metrics.Consumer{Stream: bus.StreamEvents, Durable: "missing"},
	)
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, lag); err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP pbxhooks_consumer_ack_pending_messages Messages delivered to the durable consumer and not acknowledged yet (in process or waiting for a retry).
# TYPE pbxhooks_consumer_ack_pending_messages gauge
pbxhooks_consumer_ack_pending_messages{consumer="deliverer",stream="DELIVERIES"} 1
pbxhooks_consumer_ack_pending_messages{consumer="deliverer-parked",stream="PARKED"} 0
# HELP pbxhooks_consumer_pending_messages Messages stored on the stream that the durable consumer has not been delivered yet.
# TYPE pbxhooks_consumer_pending_messages gauge
pbxhooks_consumer_pending_messages{consumer="deliverer",stream="DELIVERIES"} 2
pbxhooks_consumer_pending_messages{consumer="deliverer-parked",stream="PARKED"} 3
# HELP pbxhooks_consumer_info_errors_total Reads of consumer figures from JetStream that failed; those consumers were left out of the scrape.
# TYPE pbxhooks_consumer_info_errors_total counter
pbxhooks_consumer_info_errors_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// Within maxAge a scrape is served from the cache: JetStream is not
	// asked again, so the missing consumer is not counted twice.
	if _, err := js.Publish(ctx, "deliveries.acct.hook1", []byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatalf("second scrape within maxAge: %v", err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}
