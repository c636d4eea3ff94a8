package chaos

import (
	"testing"
	"time"
)

// Short-form loads: small enough for `make test` on a loaded two-core
// machine, big enough that the kill lands mid-load.
const (
	shortEvents = 300
	shortRate   = 100 // events per second: the load lasts three seconds
	// recoveryDeadline covers the redelivery of what the killed process held
	// (AckWait is 30s for ingest and the matcher, 2x the delivery timeout
	// plus 10s for the deliverer) with room for a loaded machine.
	recoveryDeadline = 2 * time.Minute
)

// Each test SIGKILLs one service mid-load, restarts it, and checks that
// every event the PBX got a PubAck for reached every hook, with its attempt
// rows, duplicates sharing a webhook-id.
func TestSIGKILLOfDelivererMidLoadLosesNothing(t *testing.T) {
	t.Parallel()
	killScenario(t, "deliverer", "kill-deliverer")
}

func TestSIGKILLOfMatcherMidLoadLosesNothing(t *testing.T) {
	t.Parallel()
	killScenario(t, "matcher", "kill-matcher")
}

func TestSIGKILLOfIngestMidLoadLosesNothing(t *testing.T) {
	t.Parallel()
	killScenario(t, "ingest", "kill-ingest")
}

func killScenario(t *testing.T, svc, name string) {
	tb := startBed(t, bedOptions{})
	s := newScenario(t, tb, name, 2, nil, 3)
	s.startLoad(shortEvents, shortRate, 30*time.Second)
	s.killMidLoad(svc, 0, shortEvents)
	s.finishLoad()
	s.verifyDelivered(recoveryDeadline, okBehaviours...)
}
