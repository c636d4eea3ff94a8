//go:build chaoslong

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/pbxsim"
	"github.com/pbxhooks/pbxhooks/scripts/internal/testbed"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// The long form (`make chaos`): bigger loads and the faults that take a
// minute or more each. Run with -tags chaoslong.
const (
	longEvents   = 1500
	longRate     = 150
	longDeadline = 4 * time.Minute
)

func TestNATSServerStoppedAndRestartedMidLoadLosesNothing(t *testing.T) {
	tb := startBed(t, bedOptions{})
	s := newScenario(t, tb, "nats-restart", 2, nil, 3)
	// The PBX re-publishes what failed while NATS was down, as a real one
	// must; what it never got a PubAck for is not owed.
	s.startLoad(longEvents, longRate, 90*time.Second)
	s.waitSent(longEvents / 3)
	if err := tb.NATS.StopNode(0); err != nil {
		t.Fatalf("stop nats-server: %v", err)
	}
	t.Logf("nats-server stopped at %d events sent", s.ledger.Sent.Load())
	// Down for a while under load: the PBX's publishes fail meanwhile.
	downSince := time.Now()
	testenv.Eventually(t, time.Minute, "PBX publishes failing while NATS is down", func() (bool, string) {
		return s.ledger.LastErr() != nil && time.Since(downSince) > 2*time.Second, "no failure yet"
	})
	if err := tb.NATS.StartNode(0); err != nil {
		t.Fatalf("restart nats-server: %v", err)
	}
	t.Logf("nats-server restarted at %d events sent", s.ledger.Sent.Load())
	s.finishLoad()
	s.verifyDelivered(longDeadline, okBehaviours...)
	requireRunning(t, s)
}

func TestPostgreSQLStoppedAndRestartedMidLoadLosesNothing(t *testing.T) {
	tb := startBed(t, bedOptions{privatePostgres: true})
	s := newScenario(t, tb, "pg-restart", 2, nil, 10)
	s.startLoad(longEvents, longRate, 30*time.Second)
	s.waitSent(longEvents / 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := tb.StopPostgres(ctx); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	t.Logf("PostgreSQL stopped at %d events sent", s.ledger.Sent.Load())
	// The API says it cannot serve, instead of hanging or answering 500.
	// A wrong answer is reported, and the scenario goes on to check that
	// nothing was lost.
	t.Run("API answers 503 while PostgreSQL is down", func(t *testing.T) {
		testenv.Eventually(t, 20*time.Second, "the API to answer 503 while PostgreSQL is down", func() (bool, string) {
			hooks, err := tb.API.ListHooksWithResponse(t.Context(), s.accounts()[0])
			if err != nil {
				return false, err.Error()
			}
			return hooks.StatusCode() == http.StatusServiceUnavailable, fmt.Sprintf("last answer: %d %s", hooks.StatusCode(), hooks.Body)
		})
	})
	s.waitSent(2 * longEvents / 3)
	if err := tb.StartPostgres(ctx); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
	t.Logf("PostgreSQL restarted at %d events sent", s.ledger.Sent.Load())
	testenv.Eventually(t, time.Minute, "the API answering 200 again", func() (bool, string) {
		hooks, err := tb.API.ListHooksWithResponse(t.Context(), s.accounts()[0])
		if err != nil {
			return false, err.Error()
		}
		return hooks.StatusCode() == http.StatusOK, string(hooks.Body)
	})
	s.finishLoad()
	s.verifyDelivered(longDeadline, okBehaviours...)
	requireRunning(t, s)
}

func TestOneOfTwoDeliverersKilledMidLoadLosesNothing(t *testing.T) {
	tb := startBed(t, bedOptions{deliverers: 2})
	s := newScenario(t, tb, "kill-replica", 2, nil, 3)
	s.startLoad(longEvents, longRate, 30*time.Second)
	s.waitSent(longEvents / 3)
	tb.KillService("deliverer", 1)
	t.Logf("SIGKILL deliverer replica 1 at %d events sent; replica 0 carries on alone", s.ledger.Sent.Load())
	s.finishLoad()
	s.verifyDelivered(longDeadline, okBehaviours...)
}

func TestThreeNodeClusterLosesANodeMidLoadLosesNothing(t *testing.T) {
	tb := startBed(t, bedOptions{natsNodes: 3})
	s := newScenario(t, tb, "cluster", 2, nil, 3)
	s.startLoad(longEvents, longRate, 90*time.Second)
	s.waitSent(longEvents / 3)
	// The first node is the one every client was given first, so most
	// connections move.
	tb.NATS.KillNode(0)
	t.Logf("SIGKILL NATS node n1 at %d events sent", s.ledger.Sent.Load())
	s.finishLoad()
	s.verifyDelivered(longDeadline, okBehaviours...)
	requireRunning(t, s)
}

// TestHostileEndpointsDoNotStopHealthyDeliveries points one hook of each
// account at each receiver fault, each on its own port. The healthy, slow,
// 50 MB-body and down-then-up endpoints must get every delivery with its
// success row; the failing, hanging and resetting ones must record failures
// and never a success; no service may die.
func TestHostileEndpointsDoNotStopHealthyDeliveries(t *testing.T) {
	// Auto-disable (Kazoo's attempt_failure_count) would switch the
	// fail-once hook off under this load; it is not what is tested here.
	tb := startBed(t, bedOptions{env: []string{"DELIVERY_TIMEOUT=2s", "DELIVERY_ATTEMPT_FAILURE_COUNT=1000"}})
	behaviours := []pbxsim.Behaviour{pbxsim.OK, pbxsim.Slow, pbxsim.Huge, pbxsim.FlakyThenOK, pbxsim.Fail, pbxsim.Hang, pbxsim.Reset}
	s := newScenario(t, tb, "hostile", 2, behaviours, 1)
	const events = 60
	s.startLoad(events, 20, 30*time.Second)
	s.finishLoad()
	s.verifyDelivered(longDeadline, pbxsim.OK, pbxsim.Slow, pbxsim.Huge, pbxsim.FlakyThenOK)

	// Each failing endpoint records failures and never a success. Not every
	// delivery to it has a row yet: while its circuit breaker is open the
	// deliverer defers deliveries without calling (and so without an
	// attempt), which is the point of a breaker; the count is logged.
	failing := s.expected(pbxsim.Fail, pbxsim.Hang, pbxsim.Reset)
	failingHooks := map[string]bool{}
	for h, b := range s.behaviourOf {
		if b == pbxsim.Fail || b == pbxsim.Hang || b == pbxsim.Reset {
			failingHooks[h] = true
		}
	}
	var attempts map[string]testbed.DeliveryAttempts
	testenv.Eventually(s.t, longDeadline, "a failure attempt row for every failing hook", func() (bool, string) {
		var err error
		attempts, err = tb.AttemptsByDelivery(t.Context(), s.accounts())
		if err != nil {
			return false, err.Error()
		}
		recorded := map[string]bool{}
		for id, a := range attempts {
			if _, hook, ok := strings.Cut(id, ":"); ok && failingHooks[hook] && a.Rows > 0 {
				recorded[hook] = true
			}
		}
		return len(recorded) == len(failingHooks), fmt.Sprintf("%d of %d failing hooks have attempt rows", len(recorded), len(failingHooks))
	})
	withoutRow := 0
	for id := range failing {
		if attempts[id].Succeeded {
			t.Errorf("delivery %s to a failing endpoint recorded a success", id)
		}
		if attempts[id].Rows == 0 {
			withoutRow++
		}
	}
	t.Logf("failing endpoints: %d deliveries, %d without an attempt row yet (deferred by the breaker)", len(failing), withoutRow)
	requireRunning(t, s)
}
