package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// hookIDPattern is the shape of the ids newHookID mints (Kazoo's shape).
var hookIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// SecretPrefix marks a signing secret, so one pasted in the wrong place is
// recognisable.
const SecretPrefix = "whsec_"

// hookJSON is a hook as the API shows it. Filters are always present, empty
// meaning "any"; secret only on create and rotation.
type hookJSON struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	URI                 string          `json:"uri"`
	HTTPVerb            string          `json:"http_verb"`
	Hook                string          `json:"hook"`
	Retries             int32           `json:"retries"`
	CustomData          json.RawMessage `json:"custom_data"`
	Enabled             bool            `json:"enabled"`
	Format              string          `json:"format"`
	IncludeInternalLegs bool            `json:"include_internal_legs"`
	IncludeSubaccounts  bool            `json:"include_subaccounts"`
	CallTypes           []string        `json:"call_types"`
	CallStatuses        []string        `json:"call_statuses"`
	MediaTypes          []string        `json:"media_types"`
	DisableReason       string          `json:"disable_reason"`
	// Relay marks the temporary hook of a `pbxhooks listen` connection,
	// which exists while the connection lasts (see relay.go).
	Relay  bool   `json:"relay"`
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is set after a rotation: until then the
	// rotated-out secret still signs deliveries beside the new one.
	PreviousSecretExpiresAt string `json:"previous_secret_expires_at,omitempty"`
	Revision                int64  `json:"revision"`
	Created                 string `json:"created"`
	Modified                string `json:"modified"`
}

func renderHook(h store.Hook, withSecret bool) hookJSON {
	out := hookJSON{
		ID:                  h.ID,
		Name:                h.Name,
		URI:                 h.Uri,
		HTTPVerb:            h.HttpVerb,
		Hook:                h.Hook,
		Retries:             h.Retries,
		CustomData:          h.CustomData,
		Enabled:             h.Enabled,
		Format:              h.Format,
		IncludeInternalLegs: h.IncludeInternalLegs,
		IncludeSubaccounts:  h.IncludeSubaccounts,
		CallTypes:           nonNil(h.CallTypes),
		CallStatuses:        nonNil(h.CallStatuses),
		MediaTypes:          nonNil(h.MediaTypes),
		DisableReason:       h.DisableReason,
		Relay:               h.RelayLeaseExpiresAt != nil,
		Revision:            h.Revision,
		Created:             timestamp(h.CreatedAt),
		Modified:            timestamp(h.ModifiedAt),
	}
	if len(out.CustomData) == 0 {
		out.CustomData = json.RawMessage("{}")
	}
	if withSecret {
		out.Secret = h.Secret
	}
	if h.PreviousSecretExpiresAt != nil {
		out.PreviousSecretExpiresAt = timestamp(*h.PreviousSecretExpiresAt)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// createHook validates the document before touching the database, so bad
// input never creates an account. The admin's first hook for an unknown
// account creates the account in the same transaction.
func (s *Server) createHook(c echo.Context) error {
	ctx := c.Request().Context()
	accountID := c.Param("account_id")
	fields, err := readData(c)
	if err != nil {
		return err
	}
	doc, violations := s.decodeHook(fields)
	if !violations.Empty() {
		return errInvalidData(violations)
	}
	id, err := newHookID()
	if err != nil {
		return errInternal(err)
	}
	secret, err := newSecret()
	if err != nil {
		return errInternal(err)
	}
	params := store.InsertHookParams{
		ID:                  id,
		AccountID:           accountID,
		Name:                doc.Name,
		Uri:                 doc.URI,
		HttpVerb:            doc.HTTPVerb,
		Hook:                doc.Hook,
		Retries:             doc.Retries,
		CustomData:          doc.CustomData,
		Enabled:             doc.Enabled,
		Format:              doc.Format,
		IncludeInternalLegs: doc.IncludeInternalLegs,
		IncludeSubaccounts:  doc.IncludeSubaccounts,
		CallTypes:           doc.CallTypes,
		CallStatuses:        doc.CallStatuses,
		MediaTypes:          doc.MediaTypes,
		Secret:              secret,
	}
	var hook store.Hook
	err = store.WithTx(ctx, s.pool, func(q *store.Queries) error {
		if currentPrincipal(c).Admin {
			if err := q.EnsureAccount(ctx, accountID); err != nil {
				return fmt.Errorf("ensure account %s: %w", accountID, err)
			}
		}
		var err error
		hook, err = q.InsertHook(ctx, params)
		if err != nil {
			return fmt.Errorf("create hook for %s: %w", accountID, err)
		}
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		// foreign_key_violation: the account was deleted after the
		// token that names it was checked.
		return errNotFound("account not found: " + accountID)
	}
	if err != nil {
		return errInternal(err)
	}
	s.publishHooksChanged(ctx, hook, "created")
	return respond(c, http.StatusCreated, envelope{Data: renderHook(hook, true), Revision: strconv.FormatInt(hook.Revision, 10)})
}

func (s *Server) listHooks(c echo.Context) error {
	accountID := c.Param("account_id")
	hooks, err := s.queries.ListHooks(c.Request().Context(), accountID)
	if err != nil {
		return errInternal(fmt.Errorf("list hooks of %s: %w", accountID, err))
	}
	out := make([]hookJSON, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, renderHook(h, false))
	}
	return respond(c, http.StatusOK, envelope{Data: out})
}

func (s *Server) getHook(c echo.Context) error {
	hook, err := s.loadHook(c)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, envelope{Data: renderHook(hook, false), Revision: strconv.FormatInt(hook.Revision, 10)})
}

// loadHook finds the path's hook within the path's account: a hook of
// another account is "not found" here, whoever asks.
func (s *Server) loadHook(c echo.Context) (store.Hook, error) {
	accountID, hookID := c.Param("account_id"), c.Param("webhook_id")
	if !hookIDPattern.MatchString(hookID) {
		var v validation.Violations
		v.Add("webhook_id", validation.RuleFormat, validation.Rule{
			Message: "must be 32 lowercase hexadecimal characters", Target: hookIDPattern.String()})
		return store.Hook{}, errBadRequest("invalid webhook id in path", v)
	}
	hook, err := s.queries.GetHook(c.Request().Context(), store.GetHookParams{AccountID: accountID, ID: hookID})
	if store.IsNotFound(err) {
		return store.Hook{}, errNotFound("webhook not found: " + hookID)
	}
	if err != nil {
		return store.Hook{}, errInternal(fmt.Errorf("get hook %s of %s: %w", hookID, accountID, err))
	}
	return hook, nil
}

// publishHooksChanged tells matchers to reload the account. The change is
// already committed, so a failed publish is logged, not returned: an error
// answer would make the client retry and create a duplicate hook.
func (s *Server) publishHooksChanged(ctx context.Context, hook store.Hook, change string) {
	s.publishAccountChange(ctx, bus.HookChange{AccountID: hook.AccountID, HookID: hook.ID, Change: change, Revision: hook.Revision})
}

// publishAccountChange stores a hooks.changed notice for what changed in
// the account: one hook, or (with no hook id) a setting all its hooks
// follow. It returns once JetStream holds the notice, so the client hears
// "changed" only after every matcher can see that its cache is stale.
func (s *Server) publishAccountChange(ctx context.Context, notice bus.HookChange) {
	header := nats.Header{}
	telemetry.InjectNATS(ctx, header)
	pubCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := bus.PublishHookChange(pubCtx, s.js, notice, header); err != nil {
		s.log.WarnContext(ctx, "publish hook change", telemetry.KeySubject, bus.HooksChangedSubject(notice.AccountID),
			telemetry.KeyAccountID, notice.AccountID, telemetry.KeyHookID, notice.HookID, telemetry.KeyError, err.Error())
	}
}

// newHookID mints 32 lowercase hex characters, the shape of Kazoo ids.
func newHookID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate hook id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// newSecret mints a signing secret: whsec_ and 32 random bytes in base64.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate hook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}
