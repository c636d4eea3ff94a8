// Package testbed assembles a whole pbxhooks deployment on 127.0.0.1 for the
// benchmark and the fault suite: nats-server as separate process(es), a
// PostgreSQL database (a private cluster unless a URL is given), the four
// services as separate processes, plus a PBX-side NATS connection and a
// database pool to count what happened.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/scripts/internal/natsproc"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
)

// AdminToken is the API admin token of every testbed.
const AdminToken = "testbed-admin-token-0123456789abcdef"

const databaseName = "pbxhooks"

// BuildAll compiles the four services and nats-server into binDir.
func BuildAll(ctx context.Context, repoRoot, binDir string) error {
	if err := stack.Build(ctx, repoRoot, binDir); err != nil {
		return err
	}
	_, err := natsproc.Build(ctx, filepath.Join(repoRoot, "scripts"), binDir)
	return err
}

// Options shape a testbed.
type Options struct {
	// BinDir holds the binaries BuildAll made.
	BinDir string
	// WorkDir holds NATS stores and the private PostgreSQL cluster; it is
	// made enterable (0755) for PostgreSQL's user when running as root.
	WorkDir string
	// NATSNodes is 1 (default) or 3 (streams replicated three times).
	NATSNodes int
	// DatabaseURL is an existing, empty database; empty starts a private
	// cluster under WorkDir.
	DatabaseURL string
	// PGDurable runs the private cluster with fsync and synchronous_commit
	// on, as production does; the default skips fsync (faster tests).
	PGDurable bool
	// PGSettings are extra settings of the private cluster (e.g.
	// shared_preload_libraries for pg_stat_statements).
	PGSettings map[string]string
	// Deliverers is the number of deliverer replicas (default 1).
	Deliverers int
	// Env is extra environment for every service.
	Env []string
	// ServiceEnv is extra environment for one service (its first replica).
	ServiceEnv map[string][]string
	// Log receives the services', NATS's and PostgreSQL's output.
	Log io.Writer
}

// Testbed is a running deployment.
type Testbed struct {
	Opts  Options
	NATS  *natsproc.Cluster
	PG    *pgcluster.Cluster // nil when DatabaseURL was given
	DBURL string
	Cfg   stack.Config
	Stack *stack.Stack
	// NC and JS are the PBX's (and the checker's) NATS connection.
	NC *nats.Conn
	JS jetstream.JetStream
	// DB counts attempts.
	DB *pgxpool.Pool
	// API is the generated API client, as the admin; it waits out 429s and
	// transport errors until the request's context ends.
	API *apiclient.ClientWithResponses
}

// Start brings everything up; on error it tears down what it started.
func Start(ctx context.Context, opts Options) (_ *Testbed, err error) {
	if opts.NATSNodes == 0 {
		opts.NATSNodes = 1
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(opts.WorkDir, 0o755); err != nil {
		return nil, err
	}
	tb := &Testbed{Opts: opts}
	defer func() {
		if err != nil {
			tb.Close()
		}
	}()

	tb.NATS, err = natsproc.Start(ctx, filepath.Join(opts.BinDir, "nats-server"), filepath.Join(opts.WorkDir, "nats"), opts.NATSNodes, opts.Log)
	if err != nil {
		return nil, err
	}
	tb.DBURL = opts.DatabaseURL
	if tb.DBURL == "" {
		if tb.DBURL, err = tb.startPostgres(ctx); err != nil {
			return nil, err
		}
	}
	linkKeys, err := medialink.NewKeySpec("testbed")
	if err != nil {
		return nil, err
	}
	tb.Cfg = stack.Config{
		BinDir: opts.BinDir, NATSURL: tb.NATS.URL(), DatabaseURL: tb.DBURL, AdminToken: AdminToken, MediaLinkKeys: linkKeys,
		AllowCIDRs: "127.0.0.0/8", Out: stack.SyncWriter(opts.Log), Deliverers: opts.Deliverers,
		Env:        append([]string{"NATS_STREAM_REPLICAS=" + strconv.Itoa(opts.NATSNodes)}, opts.Env...),
		ServiceEnv: opts.ServiceEnv,
	}
	for _, addr := range []*string{&tb.Cfg.APIAddr, &tb.Cfg.IngestAddr, &tb.Cfg.MatcherAddr, &tb.Cfg.DelivererAddr} {
		if *addr, err = stack.FreeAddr(); err != nil {
			return nil, err
		}
	}
	if err := stack.Migrate(ctx, tb.Cfg); err != nil {
		return nil, err
	}
	if tb.Stack, err = stack.StartAll(ctx, tb.Cfg); err != nil {
		return nil, err
	}
	tb.NC, err = nats.Connect(tb.NATS.URL(), nats.Name("pbxsim"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, fmt.Errorf("PBX connection to NATS: %w", err)
	}
	if tb.JS, err = jetstream.New(tb.NC); err != nil {
		return nil, err
	}
	if tb.DB, err = pgxpool.New(ctx, tb.DBURL); err != nil {
		return nil, fmt.Errorf("checker pool: %w", err)
	}
	if tb.API, err = newAPIClient(tb.Cfg.Addr("api")); err != nil {
		return nil, err
	}
	return tb, nil
}

func (tb *Testbed) startPostgres(ctx context.Context) (string, error) {
	port, err := pgcluster.FreePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	tb.PG, err = pgcluster.Start(ctx, tb.pgOptions(filepath.Join(tb.Opts.WorkDir, "pg"), port))
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, tb.PG.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to private PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+databaseName); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return tb.PG.URL(databaseName), nil
}

// pgOptions are the private cluster's options, the same at every start.
func (tb *Testbed) pgOptions(dataDir string, port int) pgcluster.Options {
	// Room for four services' pools plus the checker.
	settings := map[string]string{"max_connections": "200"}
	maps.Copy(settings, tb.Opts.PGSettings)
	return pgcluster.Options{DataDir: dataDir, Port: port, NoSync: !tb.Opts.PGDurable, Log: tb.Opts.Log, Settings: settings}
}

// StopPostgres fast-stops the private cluster (the fault suite's outage).
func (tb *Testbed) StopPostgres(ctx context.Context) error {
	if tb.PG == nil {
		return errors.New("testbed: PostgreSQL is not private; cannot stop it")
	}
	return tb.PG.Stop(ctx)
}

// StartPostgres restarts the private cluster on its old port and data.
func (tb *Testbed) StartPostgres(ctx context.Context) error {
	if tb.PG == nil {
		return errors.New("testbed: PostgreSQL is not private")
	}
	pg, err := pgcluster.Start(ctx, tb.pgOptions(tb.PG.DataDir(), tb.PG.Port()))
	if err != nil {
		return err
	}
	tb.PG = pg
	return nil
}

// Process is replica i of svc.
func (tb *Testbed) Process(svc string, i int) *stack.Process { return tb.Stack.Processes[svc][i] }

// KillService SIGKILLs replica i of svc.
func (tb *Testbed) KillService(svc string, i int) { tb.Stack.Processes[svc][i].Kill() }

// StopService SIGTERMs replica i of svc and waits for its drain.
func (tb *Testbed) StopService(svc string, i int) error {
	return tb.Stack.Processes[svc][i].Stop(30 * time.Second)
}

// RestartService starts replica i of svc again (after Kill or Stop) and
// waits until it is ready.
func (tb *Testbed) RestartService(ctx context.Context, svc string, i int) error {
	p, err := tb.Stack.StartService(ctx, svc, i)
	if err != nil {
		return err
	}
	tb.Stack.Processes[svc][i] = p
	return nil
}

// Close stops everything, services first.
func (tb *Testbed) Close() {
	if tb.Stack != nil {
		_ = tb.Stack.Stop(20 * time.Second)
	}
	if tb.NC != nil {
		tb.NC.Close()
	}
	if tb.DB != nil {
		tb.DB.Close()
	}
	if tb.NATS != nil {
		tb.NATS.Stop()
	}
	if tb.PG != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tb.PG.Stop(ctx)
	}
}

// HookSpec is a hook to create.
type HookSpec struct {
	Name    string
	URI     string
	Hook    string // default "all"
	Retries int
}

// CreateHook creates a hook through the API (JSON body format) and returns
// its id. A 429 from the API's rate limit is waited out.
func (tb *Testbed) CreateHook(ctx context.Context, account string, h HookSpec) (string, error) {
	if h.Hook == "" {
		h.Hook = "all"
	}
	verb, format, retries := apiclient.HTTPVerbPost, apiclient.PayloadFormatJson, h.Retries
	created, err := tb.API.CreateHookWithResponse(ctx, account, apiclient.HookDocumentRequest{Data: apiclient.HookDocument{
		Name: h.Name, Uri: h.URI, HttpVerb: &verb, Hook: apiclient.HookKind(h.Hook), Format: &format, Retries: &retries,
	}})
	if err != nil {
		return "", fmt.Errorf("create hook for %s: %w", account, err)
	}
	if created.JSON201 == nil || created.JSON201.Data.Id == "" {
		return "", fmt.Errorf("create hook for %s: status %d: %.300s", account, created.StatusCode(), created.Body)
	}
	return created.JSON201.Data.Id, nil
}

// DeleteHook deletes a hook through the API.
func (tb *Testbed) DeleteHook(ctx context.Context, account, hookID string) error {
	deleted, err := tb.API.DeleteHookWithBodyWithResponse(ctx, account, hookID, nil, "", nil)
	if err != nil {
		return fmt.Errorf("delete hook %s: %w", hookID, err)
	}
	if deleted.JSON200 == nil {
		return fmt.Errorf("delete hook %s: status %d: %.300s", hookID, deleted.StatusCode(), deleted.Body)
	}
	return nil
}

// AttemptCounts are attempt rows of some accounts.
type AttemptCounts struct {
	Rows, Successes, DistinctSucceeded int64
}

// CountAttempts counts the attempt rows of accounts.
func (tb *Testbed) CountAttempts(ctx context.Context, accounts []string) (AttemptCounts, error) {
	var c AttemptCounts
	err := tb.DB.QueryRow(ctx, `
		SELECT count(*),
		       count(*) FILTER (WHERE result = 'success'),
		       count(DISTINCT delivery_id) FILTER (WHERE result = 'success')
		FROM attempts WHERE account_id = ANY($1)`, accounts).Scan(&c.Rows, &c.Successes, &c.DistinctSucceeded)
	if err != nil {
		return c, fmt.Errorf("count attempts: %w", err)
	}
	return c, nil
}

// CountSuccessRows counts success attempt rows of accounts (cheaper than
// CountAttempts, for polling).
func (tb *Testbed) CountSuccessRows(ctx context.Context, accounts []string) (int64, error) {
	var n int64
	err := tb.DB.QueryRow(ctx, `SELECT count(*) FROM attempts WHERE account_id = ANY($1) AND result = 'success'`, accounts).Scan(&n)
	return n, err
}

// AttemptsByDelivery returns, per delivery id of accounts, its attempt rows
// and whether one succeeded.
func (tb *Testbed) AttemptsByDelivery(ctx context.Context, accounts []string) (map[string]DeliveryAttempts, error) {
	rows, err := tb.DB.Query(ctx, `
		SELECT delivery_id, count(*), bool_or(result = 'success')
		FROM attempts WHERE account_id = ANY($1) GROUP BY delivery_id`, accounts)
	if err != nil {
		return nil, fmt.Errorf("attempts by delivery: %w", err)
	}
	out := map[string]DeliveryAttempts{}
	for rows.Next() {
		var id string
		var d DeliveryAttempts
		if err := rows.Scan(&id, &d.Rows, &d.Succeeded); err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, rows.Err()
}

// DeliveryAttempts summarises one delivery's attempt rows.
type DeliveryAttempts struct {
	Rows      int64
	Succeeded bool
}

// WaitFor polls check every interval until it reports done, returns an
// error, or ctx ends.
func WaitFor(ctx context.Context, interval time.Duration, what string, check func() (bool, error)) error {
	var lastErr error
	for {
		done, err := check()
		if done && err == nil {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), lastErr)
		case <-time.After(interval):
		}
	}
}
