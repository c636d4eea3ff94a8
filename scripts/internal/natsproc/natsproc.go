// Package natsproc runs nats-server as separate OS processes on 127.0.0.1:
// one server, or a three-node JetStream cluster. A separate process (rather
// than the in-process server of testkit/natsembed) lets the benchmark account for
// the broker's CPU and memory, and lets the fault suite stop, kill and
// restart it.
package natsproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
)

// Build compiles nats-server from the github.com/nats-io/nats-server/v2
// module the scripts module requires (so its version is pinned by go.sum)
// into dir, and returns the binary's path. moduleDir is the scripts module.
func Build(ctx context.Context, moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nats-server: %w\n%s", err, out)
	}
	return bin, nil
}

// Node is one nats-server: its ports stay the same across restarts, so
// clients reconnect to the same URL.
type Node struct {
	Name        string
	ClientAddr  string
	MonitorAddr string
	ClusterAddr string
	StoreDir    string
	confPath    string
	proc        *stack.Process
}

// Cluster is one or three nodes.
type Cluster struct {
	Binary string
	Nodes  []*Node
	out    io.Writer
}

// Start starts n nodes (1, or 3 for a replicated cluster) under dir, writing
// their logs to out, and waits until JetStream answers.
func Start(ctx context.Context, binary, dir string, n int, out io.Writer) (*Cluster, error) {
	if n != 1 && n != 3 {
		return nil, fmt.Errorf("natsproc: %d nodes: want 1 or 3", n)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("natsproc: %w", err)
	}
	c := &Cluster{Binary: binary, out: out}
	for i := range n {
		node := &Node{Name: fmt.Sprintf("n%d", i+1), StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		var err error
		for _, a := range []*string{&node.ClientAddr, &node.MonitorAddr, &node.ClusterAddr} {
			if *a, err = stack.FreeAddr(); err != nil {
				return nil, err
			}
		}
		node.confPath = filepath.Join(dir, node.Name+".conf")
		c.Nodes = append(c.Nodes, node)
	}
	for _, node := range c.Nodes {
		if err := os.WriteFile(node.confPath, []byte(c.config(node)), 0o644); err != nil {
			return nil, fmt.Errorf("natsproc: write config: %w", err)
		}
	}
	for _, node := range c.Nodes {
		if err := c.startNode(node); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitJetStream(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) config(node *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\nlisten: %q\nhttp: %q\n", node.Name, node.ClientAddr, node.MonitorAddr)
	// Deliveries carry rendered payloads, as in testkit/natsembed.
	b.WriteString("max_payload: 8MB\n")
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n}\n", node.StoreDir)
	if len(c.Nodes) > 1 {
		var routes []string
		for _, other := range c.Nodes {
			if other != node {
				routes = append(routes, fmt.Sprintf("%q", "nats-route://"+other.ClusterAddr))
			}
		}
		fmt.Fprintf(&b, "cluster {\n  name: \"pbxhooks-bench\"\n  listen: %q\n  routes: [%s]\n}\n",
			node.ClusterAddr, strings.Join(routes, ", "))
	}
	return b.String()
}

func (c *Cluster) startNode(node *Node) error {
	p, err := stack.Start("nats-"+node.Name, c.Binary, nil, c.out, "-c", node.confPath)
	if err != nil {
		return err
	}
	node.proc = p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return stack.WaitReady(ctx, p, "http://"+node.MonitorAddr+"/healthz?js-server-only=true")
}

// URL is the comma-separated client URL list of every node.
func (c *Cluster) URL() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, "nats://"+n.ClientAddr)
	}
	return strings.Join(urls, ",")
}

// Pid is the process id of node i (0 when it is stopped).
func (c *Cluster) Pid(i int) int {
	if c.Nodes[i].proc == nil {
		return 0
	}
	return c.Nodes[i].proc.Pid()
}

// Process is node i's process.
func (c *Cluster) Process(i int) *stack.Process { return c.Nodes[i].proc }

// StopNode stops node i gracefully (SIGTERM).
func (c *Cluster) StopNode(i int) error {
	if c.Nodes[i].proc == nil {
		return nil
	}
	err := c.Nodes[i].proc.Stop(20 * time.Second)
	c.Nodes[i].proc = nil
	return err
}

// KillNode kills node i (SIGKILL).
func (c *Cluster) KillNode(i int) {
	if c.Nodes[i].proc == nil {
		return
	}
	c.Nodes[i].proc.Kill()
	c.Nodes[i].proc = nil
}

// StartNode restarts node i on its old ports and store.
func (c *Cluster) StartNode(i int) error { return c.startNode(c.Nodes[i]) }

// Stop stops every node.
func (c *Cluster) Stop() {
	for i := range c.Nodes {
		_ = c.StopNode(i)
	}
}

// WaitJetStream polls until a client can read JetStream account info, which
// in a cluster means a meta leader was elected.
func (c *Cluster) WaitJetStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for {
		lastErr = c.jetStreamAnswers(ctx)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsproc: JetStream not ready: %w (last: %v)", ctx.Err(), lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) jetStreamAnswers(ctx context.Context) error {
	nc, err := nats.Connect(c.URL(), nats.Timeout(2*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(reqCtx, "$JS.API.INFO", nil)
	if err != nil {
		return err
	}
	var info struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		return err
	}
	if info.Error != nil {
		return fmt.Errorf("JetStream: %s", info.Error.Description)
	}
	return nil
}

// Varz is the part of the monitoring /varz the benchmark reads.
type Varz struct {
	InMsgs   int64 `json:"in_msgs"`
	OutMsgs  int64 `json:"out_msgs"`
	InBytes  int64 `json:"in_bytes"`
	OutBytes int64 `json:"out_bytes"`
	Mem      int64 `json:"mem"`
}

// ReadVarz reads node i's /varz.
func (c *Cluster) ReadVarz(ctx context.Context, i int) (Varz, error) {
	var v Varz
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Nodes[i].MonitorAddr+"/varz", nil)
	if err != nil {
		return v, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return v, fmt.Errorf("decode /varz: %w", err)
	}
	return v, nil
}
