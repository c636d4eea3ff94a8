package chaos

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// consumerOf names each consuming service's durable consumer and stream.
var consumerOf = []struct{ svc, stream, durable string }{
	{"ingest", bus.StreamPBX, bus.ConsumerIngest},
	{"matcher", bus.StreamEvents, bus.ConsumerMatcher},
	{"deliverer", bus.StreamDeliveries, bus.ConsumerDeliverer},
}

// readyz asks svc's /readyz and returns its status code and body.
func readyz(s *scenario, svc string) (int, string) {
	resp, err := http.Get("http://" + s.tb.Cfg.Addr(svc) + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Each service's durable consumer is deleted under it mid-load (as an
// operator's `nats consumer rm` would): the service makes it again and
// stays ready, and every acknowledged event is still delivered. Then each
// service's input stream is deleted: its /readyz turns 503 naming the
// consumer while it cannot consume, and 200 again once the stream is back,
// with events flowing again.
func TestDeletedConsumersAreMadeAgain(t *testing.T) {
	t.Parallel()
	tb := startBed(t, bedOptions{})
	s := newScenario(t, tb, "delete-consumer", 2, nil, 3)
	// Past one consumer check, each service knows an ack floor beyond the
	// stream's start, so the consumers are made again from where they were
	// (by start sequence on EVENTS), not as at first start.
	time.Sleep(bus.DefaultConsumerCheck + time.Second)
	s.startLoad(shortEvents, shortRate, 30*time.Second)
	for i, c := range consumerOf {
		s.waitSent((i + 1) * shortEvents / 4)
		if err := tb.JS.DeleteConsumer(t.Context(), c.stream, c.durable); err != nil {
			t.Fatalf("delete %s's consumer: %v", c.svc, err)
		}
		t.Logf("deleted %s's consumer at %d events sent", c.svc, s.ledger.Sent.Load())
		testenv.Eventually(s.t, 30*time.Second, c.svc+" to make its consumer again", func() (bool, string) {
			_, err := tb.JS.Consumer(t.Context(), c.stream, c.durable)
			code, body := readyz(s, c.svc)
			return err == nil && code == http.StatusOK, fmt.Sprintf("consumer: %v; /readyz %d %s", err, code, body)
		})
	}
	s.finishLoad()
	s.verifyDelivered(recoveryDeadline, okBehaviours...)
	requireRunning(t, s)

	for _, c := range consumerOf {
		if err := tb.JS.DeleteStream(t.Context(), c.stream); err != nil {
			t.Fatalf("delete stream %s: %v", c.stream, err)
		}
		testenv.Eventually(s.t, 30*time.Second, c.svc+"'s /readyz to fail without its stream", func() (bool, string) {
			code, body := readyz(s, c.svc)
			return code == http.StatusServiceUnavailable && strings.Contains(body, `"consumer"`), fmt.Sprintf("/readyz %d %s", code, body)
		})
		if err := bus.EnsureStreams(t.Context(), tb.JS, bus.DefaultStreamOptions()); err != nil {
			t.Fatalf("make the streams again: %v", err)
		}
		testenv.Eventually(s.t, 30*time.Second, c.svc+"'s /readyz to pass with its stream back", func() (bool, string) {
			_, err := tb.JS.Consumer(t.Context(), c.stream, c.durable)
			code, body := readyz(s, c.svc)
			return err == nil && code == http.StatusOK, fmt.Sprintf("consumer: %v; /readyz %d %s", err, code, body)
		})
	}
	if _, err := tb.JS.Stream(t.Context(), bus.StreamPBX); errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatal("PBX stream missing after EnsureStreams")
	}
	s.startLoad(60, shortRate, 30*time.Second)
	s.finishLoad()
	s.verifyDelivered(recoveryDeadline, okBehaviours...)
	requireRunning(t, s)
}
