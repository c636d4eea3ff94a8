package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// Config is what the four services need to run together.
type Config struct {
	BinDir      string
	NATSURL     string
	DatabaseURL string
	AdminToken  string
	// Listen addresses; empty means the services' defaults.
	APIAddr, IngestAddr, MatcherAddr, DelivererAddr string
	// AllowCIDRs is DELIVERY_ALLOW_CIDRS.
	AllowCIDRs string
	// MediaLinkKeys is MEDIA_LINK_KEYS, which the matcher and the api
	// require and must share (medialink.NewKeySpec makes one).
	MediaLinkKeys string
	// Extra environment for every service (KEY=VALUE).
	Env []string
	// ServiceEnv is extra environment for one service only, by name
	// ("deliverer"), e.g. PPROF_ADDR, which must differ per process.
	ServiceEnv map[string][]string
	// Out receives every service's log lines.
	Out io.Writer
	// Replicas of the deliverer (default 1).
	Deliverers int
}

// Stack is the running set of services.
type Stack struct {
	cfg       Config
	Processes map[string][]*Process
}

func (c Config) addr(svc string) string {
	switch svc {
	case "api":
		return c.APIAddr
	case "ingest":
		return c.IngestAddr
	case "matcher":
		return c.MatcherAddr
	case "deliverer":
		return c.DelivererAddr
	}
	return ""
}

var addrVar = map[string]string{
	"api":       "API_HTTP_ADDR",
	"ingest":    "INGEST_HTTP_ADDR",
	"matcher":   "MATCHER_HEALTH_ADDR",
	"deliverer": "DELIVERER_HEALTH_ADDR",
}

var defaultAddr = map[string]string{
	"api":       "127.0.0.1:8080",
	"ingest":    "127.0.0.1:8081",
	"matcher":   "127.0.0.1:8082",
	"deliverer": "127.0.0.1:8083",
}

// Addr is the listen address a service was given.
func (c Config) Addr(svc string) string {
	if a := c.addr(svc); a != "" {
		return a
	}
	return defaultAddr[svc]
}

func (c Config) baseEnv() []string {
	env := []string{
		"NATS_URL=" + c.NATSURL,
		"DATABASE_URL=" + c.DatabaseURL,
		"PBXHOOKS_ADMIN_TOKEN=" + c.AdminToken,
		"DELIVERY_ALLOW_CIDRS=" + c.AllowCIDRs,
		"MEDIA_LINK_KEYS=" + c.MediaLinkKeys,
	}
	return append(env, c.Env...)
}

// Migrate runs `api migrate` to completion.
func Migrate(ctx context.Context, cfg Config) error {
	p, err := Start("migrate", filepath.Join(cfg.BinDir, "api"), cfg.baseEnv(), cfg.Out, "migrate")
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
		if p.Err() != nil {
			return fmt.Errorf("migrate: %w", p.Err())
		}
		return nil
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("migrate: %w", ctx.Err())
	}
}

// StartAll starts every service and waits until each answers /readyz.
func StartAll(ctx context.Context, cfg Config) (*Stack, error) {
	s := &Stack{cfg: cfg, Processes: map[string][]*Process{}}
	for _, svc := range Services {
		n := 1
		if svc == "deliverer" && cfg.Deliverers > 1 {
			n = cfg.Deliverers
		}
		for i := range n {
			p, err := s.StartService(ctx, svc, i)
			if err != nil {
				s.Stop(5 * time.Second)
				return nil, err
			}
			s.Processes[svc] = append(s.Processes[svc], p)
		}
	}
	return s, nil
}

// StartService starts replica i of svc and waits for it to be ready.
// Replicas after the first get a free health port of their own.
func (s *Stack) StartService(ctx context.Context, svc string, replica int) (*Process, error) {
	addr := s.cfg.Addr(svc)
	if replica > 0 {
		free, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		addr = free
	}
	env := append(s.cfg.baseEnv(), addrVar[svc]+"="+addr)
	if svc == "api" {
		// POST .../simulate sends its test calls to this stack's ingest.
		env = append(env, "API_INGEST_URL=http://"+s.cfg.Addr("ingest"))
	}
	if replica == 0 {
		env = append(env, s.cfg.ServiceEnv[svc]...)
	}
	name := svc
	if replica > 0 {
		name = fmt.Sprintf("%s-%d", svc, replica)
	}
	p, err := Start(name, filepath.Join(s.cfg.BinDir, svc), env, s.cfg.Out)
	if err != nil {
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := WaitReady(readyCtx, p, "http://"+addr+"/readyz"); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// Stop stops the intake first (api, ingest), then the matcher, then the
// deliverers, each draining within grace.
func (s *Stack) Stop(grace time.Duration) error {
	var errs []error
	for i := len(Services) - 1; i >= 0; i-- {
		for _, p := range s.Processes[Services[i]] {
			if err := p.Stop(grace); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Exited returns a channel that receives the first service that exits.
func (s *Stack) Exited() <-chan *Process {
	ch := make(chan *Process, 1)
	for _, ps := range s.Processes {
		for _, p := range ps {
			go func() {
				<-p.Done()
				select {
				case ch <- p:
				default:
				}
			}()
		}
	}
	return ch
}
