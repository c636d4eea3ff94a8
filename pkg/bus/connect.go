package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Credentials authenticate a connection to a NATS server that requires it
// (a production server configured with `api nats-config`). The zero value
// connects without credentials, as to the embedded server of `make run`.
type Credentials struct {
	// User and Password are a nats-server user (NATS_USER, NATS_PASSWORD).
	User, Password string
	// CredsFile is a NATS credentials file (NATS_CREDS), for servers run
	// with JWT-based accounts instead of a users list.
	CredsFile string
}

func (c Credentials) option() (nats.Option, error) {
	switch {
	case c.CredsFile != "" && (c.User != "" || c.Password != ""):
		return nil, errors.New("NATS credentials: give a user and password or a creds file, not both")
	case c.CredsFile != "":
		return nats.UserCredentials(c.CredsFile), nil
	case c.User != "" || c.Password != "":
		return nats.UserInfo(c.User, c.Password), nil
	default:
		return nil, nil
	}
}

// Connect opens a NATS connection that reconnects forever: a NATS restart or
// a cluster node failover must pause a service, not end it. name is the
// service's name; its replies arrive under ServiceInboxPrefix(name), the
// only inbox the service's NATS user may read.
func Connect(url, name string, creds Credentials, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return connect(url, name, ServiceInboxPrefix(name), creds, log)
}

// ConnectPBX is Connect for a PBX connector of accountID: its replies (the
// PubAcks of its publishes) arrive under PBXInboxPrefix(accountID), the
// only inbox a PBX user of `api nats-config` may read.
func ConnectPBX(url, name, accountID string, creds Credentials, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return connect(url, name, PBXInboxPrefix(accountID), creds, log)
}

// ConnectionReady is every service's NATS readiness check (/readyz): ready
// while nc is connected, and naming its state (RECONNECTING, CLOSED, ...)
// otherwise. It has the shape of a health.Check.
func ConnectionReady(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if status := nc.Status(); status != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", status)
		}
		return nil
	}
}

func connect(url, name, inboxPrefix string, creds Credentials, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.CustomInboxPrefix(inboxPrefix),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// A nil error is our own Close at shutdown, not a fault.
			if err != nil {
				log.Warn("NATS disconnected", telemetry.KeyError, err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("NATS reconnected", "url", c.ConnectedUrl())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			// Permission violations arrive here: a user whose permissions
			// miss something the service needs must be visible at once.
			if sub != nil {
				log.Error("NATS error", telemetry.KeySubject, sub.Subject, telemetry.KeyError, err)
				return
			}
			log.Error("NATS error", telemetry.KeyError, err)
		}),
	}
	auth, err := creds.option()
	if err != nil {
		return nil, nil, err
	}
	if auth != nil {
		opts = append(opts, auth)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("JetStream context: %w", err)
	}
	return nc, js, nil
}
