package bus_test

import (
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestConnectionReadyFollowsTheConnection(t *testing.T) {
	t.Parallel()
	nc, _ := testenv.NATS(t).Connect(t)
	ready := bus.ConnectionReady(nc)
	if err := ready(t.Context()); err != nil {
		t.Fatalf("readiness of a connected client: %v", err)
	}
	nc.Close()
	err := ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "NATS connection is CLOSED") {
		t.Fatalf("readiness of a closed client: %v, want it to name the CLOSED state", err)
	}
}
