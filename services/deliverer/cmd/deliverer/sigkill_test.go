package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// slowReceiver answers 200 after a delay and records every webhook-id.
type slowReceiver struct {
	mu       sync.Mutex
	received map[string]int // webhook-id -> requests
	bodies   map[string][]string
}

func (r *slowReceiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.received {
		n += c
	}
	return n
}

func startBinary(t *testing.T, bin string, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.Discard
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start deliverer: %v", err)
	}
	return cmd
}

// The deliverer is killed with SIGKILL in the middle of a batch and
// restarted: no delivery may be lost, and a delivery sent twice carries the
// same webhook-id both times.
func TestSIGKILLLosesNoDelivery(t *testing.T) {
	t.Parallel()
	const n = 200
	bin := filepath.Join(t.TempDir(), "deliverer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = t.Output()
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	natsSrv, _, js := testenv.JetStream(t)
	dsn, pool := testenv.Postgres(t)
	q := store.New(pool)

	recv := &slowReceiver{received: map[string]int{}, bodies: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(300 * time.Millisecond) // a slow receiver, so the kill lands mid-request
		id := req.Header.Get("webhook-id")
		recv.mu.Lock()
		recv.received[id]++
		recv.bodies[id] = append(recv.bodies[id], string(body))
		recv.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	secretBytes := make([]byte, 32)
	_, _ = rand.Read(secretBytes)
	if err := q.EnsureAccount(t.Context(), "acctkill"); err != nil {
		t.Fatal(err)
	}
	hook, err := q.InsertHook(t.Context(), store.InsertHookParams{
		ID: "hkkill", AccountID: "acctkill", Name: "kill", Uri: srv.URL + "/cb", HttpVerb: "post", Hook: "all",
		Retries: 3, CustomData: json.RawMessage(`{}`), Enabled: true, Format: "json",
		CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{},
		Secret: "whsec_" + base64.StdEncoding.EncodeToString(secretBytes),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range n {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		eventID := "ev" + hex.EncodeToString(b)
		ids[i] = eventID + ":" + hook.ID
		publishDelivery(t, js, &pbxhooksv1.Delivery{
			Id: ids[i], AccountId: hook.AccountID, HookId: hook.ID, EventId: eventID, Method: "POST",
			Url: hook.Uri, ContentType: "application/json", Body: []byte(`{"n":"` + ids[i] + `"}`),
			Retries: hook.Retries, CreatedAt: timestamppb.Now(),
		})
	}

	env := []string{
		"NATS_URL=" + natsSrv.URL, "DATABASE_URL=" + dsn, "DELIVERER_HEALTH_ADDR=127.0.0.1:0",
		"DELIVERY_ALLOW_CIDRS=127.0.0.0/8", "DELIVERER_WORKERS=16",
		// A short request timeout keeps the ack wait (2 x timeout + 10 s),
		// after which the killed process's messages come back, short.
		"DELIVERY_TIMEOUT=1s", "LOG_LEVEL=warn",
	}
	first := startBinary(t, bin, env)
	testenv.Eventually(t, time.Minute, "a quarter of the deliveries", func() bool { return recv.total() >= n/4 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	_ = first.Wait()
	atKill := recv.total()

	second := startBinary(t, bin, env)
	t.Cleanup(func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
	})
	testenv.Eventually(t, 2*time.Minute, "every delivery to have a success attempt row", func() bool {
		return countSucceeded(t, pool, ids) == n
	})

	recv.mu.Lock()
	defer recv.mu.Unlock()
	duplicates := 0
	for _, id := range ids {
		c := recv.received[id]
		if c == 0 {
			t.Errorf("delivery %s never reached the receiver", id)
		}
		duplicates += max(c-1, 0)
		for _, body := range recv.bodies[id] {
			if body != `{"n":"`+id+`"}` {
				t.Errorf("delivery %s arrived with another delivery's body %s", id, body)
			}
		}
	}
	if len(recv.received) != n {
		t.Errorf("receiver saw %d distinct webhook-ids, want %d", len(recv.received), n)
	}
	t.Logf("killed after %d requests; %d deliveries, %d duplicate requests (same webhook-id)", atKill, n, duplicates)
}

func publishDelivery(t *testing.T, js jetstream.JetStream, d *pbxhooksv1.Delivery) {
	t.Helper()
	subject, err := bus.DeliverySubject(d.AccountId, d.HookId)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(bus.HeaderMsgID, d.Id)
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func countSucceeded(t *testing.T, pool *pgxpool.Pool, ids []string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(DISTINCT delivery_id) FROM attempts WHERE result = 'success' AND delivery_id = ANY($1)`, ids).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}
