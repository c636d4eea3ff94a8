package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/pbxsim"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/scripts/internal/testbed"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// binDir holds the four services and nats-server, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pbxchaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := testbed.BuildAll(ctx, root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "build services and nats-server:", err)
		return 1
	}
	binDir = dir
	return m.Run()
}

// bedOptions are what a scenario changes about the deployment.
type bedOptions struct {
	privatePostgres bool
	natsNodes       int
	deliverers      int
	env             []string
}

// startBed starts a deployment for one test; its logs go to a file whose
// tail is printed when the test fails.
func startBed(t *testing.T, o bedOptions) *testbed.Testbed {
	t.Helper()
	workDir, err := os.MkdirTemp("", "pbxchaos-")
	if err != nil {
		t.Fatal(err)
	}
	// The private PostgreSQL runs as the postgres user when tests run as
	// root; it must be able to enter the directory.
	if err := os.Chmod(workDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(workDir) })
	logPath := filepath.Join(workDir, "services.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := testbed.Options{
		BinDir: binDir, WorkDir: filepath.Join(workDir, "run"), NATSNodes: o.natsNodes,
		Deliverers: o.deliverers, Log: logFile,
		// A short timeout bounds how long a killed deliverer's in-flight
		// deliveries wait for redelivery (its AckWait follows it).
		Env: append([]string{"DELIVERY_TIMEOUT=5s"}, o.env...),
	}
	if !o.privatePostgres {
		opts.DatabaseURL = testenv.PostgresURL(t)
	}
	tb, err := testbed.Start(t.Context(), opts)
	if err != nil {
		_ = logFile.Close()
		dumpLog(t, logPath)
		t.Fatalf("start deployment: %v", err)
	}
	t.Cleanup(func() {
		tb.Close()
		_ = logFile.Close()
		if t.Failed() {
			dumpLog(t, logPath)
		}
	})
	return tb
}

// dumpLog prints the last lines of the deployment's log.
func dumpLog(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 400 {
			lines = lines[200:]
		}
	}
	t.Logf("last lines of %s:\n%s", path, strings.Join(lines[max(len(lines)-200, 0):], "\n"))
}

// scenario is one deployment under load from the PBX simulator.
type scenario struct {
	t  *testing.T
	tb *testbed.Testbed
	// recvs has one receiver (one 127.0.0.1 port) per behaviour, so a
	// hostile endpoint is a different host:port from a healthy one, as
	// different customers' endpoints are.
	recvs map[pbxsim.Behaviour]*pbxsim.Receiver
	hooks map[string][]string // account -> hook ids
	// behaviourOf says what each hook's endpoint does.
	behaviourOf map[string]pbxsim.Behaviour
	ledger      *pbxsim.Ledger
	published   chan error
}

// newScenario creates accounts with one hook per behaviour each (all OK
// hooks when behaviours is nil: two per account).
func newScenario(t *testing.T, tb *testbed.Testbed, name string, accounts int, behaviours []pbxsim.Behaviour, retries int) *scenario {
	t.Helper()
	if behaviours == nil {
		behaviours = []pbxsim.Behaviour{pbxsim.OK, pbxsim.OK}
	}
	s := &scenario{t: t, tb: tb, recvs: map[pbxsim.Behaviour]*pbxsim.Receiver{}, hooks: map[string][]string{}, behaviourOf: map[string]pbxsim.Behaviour{}}
	for _, b := range behaviours {
		if s.recvs[b] != nil {
			continue
		}
		recv, err := pbxsim.NewReceiver(pbxsim.ReceiverOptions{SlowDelay: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(recv.Close)
		s.recvs[b] = recv
	}
	var names []string
	for a := range accounts {
		account := fmt.Sprintf("%s-%d", name, a)
		names = append(names, account)
		for h, b := range behaviours {
			id, err := tb.CreateHook(t.Context(), account, testbed.HookSpec{
				Name: fmt.Sprintf("%s-%d", b, h), URI: s.recvs[b].URL(b, account), Retries: retries,
			})
			if err != nil {
				t.Fatal(err)
			}
			s.hooks[account] = append(s.hooks[account], id)
			s.behaviourOf[id] = b
		}
	}
	s.warmUp(names)
	return s
}

// warmUp proves the matcher knows every hook before the load starts: one
// call per account, and every OK hook got its three callbacks.
func (s *scenario) warmUp(accounts []string) {
	s.t.Helper()
	ledger := pbxsim.NewLedger(fmt.Sprintf("warm%x", time.Now().UnixNano()&0xffffff), accounts, 3*len(accounts))
	pub := &pbxsim.Publisher{NC: s.tb.NC, RetryFor: 20 * time.Second}
	if err := pub.Run(s.t.Context(), ledger); err != nil {
		s.t.Fatal(err)
	}
	want := 0
	for _, a := range accounts {
		for _, h := range s.hooks[a] {
			if s.behaviourOf[h] == pbxsim.OK {
				want += 3
			}
		}
	}
	testenv.Eventually(s.t, 60*time.Second, "warm-up callbacks", func() (bool, string) {
		n := 0
		for id := range pbxsim.Delivered(s.calls()) {
			if strings.HasPrefix(id, ledger.RunID+"-") {
				n++
			}
		}
		return n >= want, fmt.Sprintf("%d of %d", n, want)
	})
	for _, r := range s.recvs {
		r.ResetRecords()
	}
}

// calls gathers every receiver's calls.
func (s *scenario) calls() []pbxsim.Call {
	var out []pbxsim.Call
	for _, r := range s.recvs {
		out = append(out, r.Calls()...)
	}
	return out
}

func (s *scenario) accounts() []string {
	out := make([]string, 0, len(s.hooks))
	for a := range s.hooks {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// startLoad publishes events at rate per second in the background; events
// whose publish fails are retried for retryFor.
func (s *scenario) startLoad(events int, rate float64, retryFor time.Duration) {
	s.ledger = pbxsim.NewLedger(fmt.Sprintf("run%x", time.Now().UnixNano()&0xffffff), s.accounts(), events)
	s.published = make(chan error, 1)
	pub := &pbxsim.Publisher{NC: s.tb.NC, Rate: rate, RetryFor: retryFor}
	go func() { s.published <- pub.Run(s.t.Context(), s.ledger) }()
}

// waitSent waits until n events were published.
func (s *scenario) waitSent(n int) {
	s.t.Helper()
	testenv.Eventually(s.t, 2*time.Minute, fmt.Sprintf("%d events published", n), func() (bool, string) {
		sent := s.ledger.Sent.Load()
		return sent >= int64(n), fmt.Sprintf("%d sent", sent)
	})
}

// finishLoad waits for the publisher to finish and logs its ledger.
func (s *scenario) finishLoad() {
	s.t.Helper()
	select {
	case err := <-s.published:
		if err != nil {
			s.t.Fatalf("publisher: %v", err)
		}
	case <-time.After(5 * time.Minute):
		s.t.Fatal("publisher did not finish within 5 minutes")
	}
	s.t.Logf("PBX: %d events published, %d acknowledged, %d re-publishes, last error: %v",
		len(s.ledger.SentAt), s.ledger.Acked(), s.ledger.Retried.Load(), s.ledger.LastErr())
	if s.ledger.Acked() == 0 {
		s.t.Fatal("no event was acknowledged: the scenario proves nothing")
	}
}

// expected lists the webhook ids that must be delivered: every acknowledged
// event times every hook of its account whose behaviour is in ok.
func (s *scenario) expected(ok ...pbxsim.Behaviour) map[string]bool {
	want := map[string]bool{}
	for i := range s.ledger.SentAt {
		if !s.ledger.IsAcked(i) {
			continue
		}
		for _, h := range s.hooks[s.ledger.Account(i)] {
			if slices.Contains(ok, s.behaviourOf[h]) {
				want[s.ledger.EventID(i)+":"+h] = true
			}
		}
	}
	return want
}

// verifyDelivered checks the suite's three promises for the hooks whose
// behaviour is in ok: every acknowledged event was delivered at least once
// (by webhook-id), duplicates share the webhook-id of a real delivery, and
// every delivery has its attempt rows with a success. It returns the
// duplicate count.
func (s *scenario) verifyDelivered(deadline time.Duration, ok ...pbxsim.Behaviour) int {
	s.t.Helper()
	want := s.expected(ok...)
	accounts := s.accounts()
	var attempts map[string]testbed.DeliveryAttempts
	var delivered map[string]int
	testenv.Eventually(s.t, deadline, "every acknowledged event delivered and recorded", func() (bool, string) {
		delivered = pbxsim.Delivered(s.calls())
		var err error
		attempts, err = s.tb.AttemptsByDelivery(s.t.Context(), accounts)
		if err != nil {
			return false, err.Error()
		}
		missingCallback, missingRow := 0, 0
		var example string
		for id := range want {
			if delivered[id] == 0 {
				missingCallback++
				example = id
			}
			if !attempts[id].Succeeded {
				missingRow++
				example = id
			}
		}
		return missingCallback == 0 && missingRow == 0,
			fmt.Sprintf("%d of %d deliveries lack a callback, %d lack a success attempt row (e.g. %s)", missingCallback, len(want), missingRow, example)
	})

	published := map[string]bool{}
	for i := range s.ledger.SentAt {
		if s.ledger.SentAt[i] != 0 {
			for _, h := range s.hooks[s.ledger.Account(i)] {
				published[s.ledger.EventID(i)+":"+h] = true
			}
		}
	}
	duplicates := 0
	for id, n := range delivered {
		if !strings.HasPrefix(id, s.ledger.RunID+"-") {
			continue
		}
		if !published[id] {
			s.t.Errorf("callback with webhook-id %q, which is no delivery of a published event", id)
		}
		if n > 1 {
			duplicates += n - 1
		}
		// A delivery the endpoint accepted has a success row, whether or
		// not its event was acknowledged to the PBX.
		if !attempts[id].Succeeded {
			s.t.Errorf("delivery %s was accepted by the endpoint but has no success attempt row", id)
		}
	}
	s.t.Logf("deliveries: %d due, %d distinct received, %d duplicates (same webhook-id)", len(want), countPrefix(delivered, s.ledger.RunID+"-"), duplicates)
	return duplicates
}

func countPrefix(m map[string]int, prefix string) int {
	n := 0
	for id := range m {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

// killMidLoad SIGKILLs replica i of svc once a third of the events are
// published, keeps it down while the next third is published, then starts
// it again.
func (s *scenario) killMidLoad(svc string, replica, events int) {
	s.t.Helper()
	s.waitSent(events / 3)
	s.tb.KillService(svc, replica)
	s.t.Logf("SIGKILL %s replica %d at %d events sent", svc, replica, s.ledger.Sent.Load())
	s.waitSent(2 * events / 3)
	if err := s.tb.RestartService(s.t.Context(), svc, replica); err != nil {
		s.t.Fatalf("restart %s: %v", svc, err)
	}
	s.t.Logf("%s replica %d restarted at %d events sent", svc, replica, s.ledger.Sent.Load())
}

// okBehaviours are the endpoints every delivery must reach.
var okBehaviours = []pbxsim.Behaviour{pbxsim.OK}

// requireRunning fails when a service process died during the scenario.
func requireRunning(t *testing.T, s *scenario) {
	t.Helper()
	for svc, procs := range s.tb.Stack.Processes {
		for i, p := range procs {
			select {
			case <-p.Done():
				t.Errorf("%s replica %d exited: %v", svc, i, p.Err())
			default:
			}
		}
	}
}
