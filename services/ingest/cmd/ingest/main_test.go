package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// runMainEnv makes the test binary run ingest's main instead of the tests,
// so a test can start ingest as a real process and kill it.
const runMainEnv = "INGEST_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ingestProcess is ingest running as a child process.
type ingestProcess struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startIngest(t *testing.T, natsURL string) *ingestProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		runMainEnv+"=1",
		"NATS_URL="+natsURL,
		"DATABASE_URL="+testenv.PostgresURL(t),
		"PBXHOOKS_ADMIN_TOKEN=admin-token-for-tests-0123456789",
		"INGEST_HTTP_ADDR=127.0.0.1:0",
		"INGEST_WORKERS=8",
		// In-flight messages of a killed process come back after this.
		"INGEST_ACK_WAIT=2s",
		"INGEST_PUBLISH_TIMEOUT=1s",
		"LOG_LEVEL=warn",
	)
	p := &ingestProcess{cmd: cmd, out: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ingest: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return p
}

// TestKilledIngestLosesAndDuplicatesNothing runs ingest as a process, kills
// it with SIGKILL while it works through a backlog, publishes more while it
// is down, restarts it and checks that every PBX event is stored on EVENTS
// exactly once: the PBX message is acked only after the EVENTS publish, and
// the republish of an event stored just before the kill is deduplicated by
// its Nats-Msg-Id.
func TestKilledIngestLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	const total, firstBatch = 4000, 3000
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			body := fmt.Sprintf(`{"event":"channel_create","id":"ev-%d","call_id":"call-%d","direction":"inbound"}`, i, i)
			if _, err := js.PublishAsync("pbx.events.acct1", []byte(body)); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			t.Fatal("PBX publishes not acknowledged")
		}
	}
	publish(0, firstBatch)

	first := startIngest(t, srv.URL)
	testenv.Eventually(t, 30*time.Second, "ingest to store its first events", func() bool { return testenv.StreamMsgs(t, js, bus.StreamEvents) >= 50 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	atKill := testenv.StreamMsgs(t, js, bus.StreamEvents)
	t.Logf("killed ingest with %d of %d events stored", atKill, firstBatch)
	if atKill >= firstBatch {
		t.Fatalf("ingest stored all %d events before it was killed; the test did not interrupt it", atKill)
	}
	publish(firstBatch, total)

	second := startIngest(t, srv.URL)
	testenv.Eventually(t, 60*time.Second, "the PBX stream to drain after the restart", func() bool {
		return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 && testenv.StreamMsgs(t, js, bus.StreamEvents) >= total
	})

	s, err := js.Stream(t.Context(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		seen[m.Header.Get(bus.HeaderMsgID)]++
	}
	if info.State.Msgs != total {
		t.Errorf("EVENTS holds %d messages, want %d", info.State.Msgs, total)
	}
	for i := range total {
		if n := seen[fmt.Sprintf("acct1/ev-%d", i)]; n != 1 {
			t.Errorf("event ev-%d stored %d times", i, n)
		}
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamDeadLetter); n != 0 {
		t.Errorf("DEADLETTER holds %d messages", n)
	}

	// SIGTERM drains and exits cleanly.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.cmd.Wait(); err != nil {
		t.Errorf("ingest after SIGTERM: %v\n%s", err, second.out)
	}
}
