package credential

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// ErrUnknownToken is what a TokenStore answers for a digest that is no
// active token (never issued, or revoked).
var ErrUnknownToken = errors.New("unknown or revoked token")

// TokenStore finds active account tokens by digest.
type TokenStore interface {
	// ActiveToken returns the active token whose Hash is digest, or an
	// error wrapping ErrUnknownToken. Any other error is an outage.
	ActiveToken(ctx context.Context, digest []byte) (Principal, error)
}

// PostgresTokens is the TokenStore of the api_tokens table.
type PostgresTokens struct{ q *store.Queries }

// NewPostgresTokens looks tokens up through db.
func NewPostgresTokens(db store.DBTX) *PostgresTokens { return &PostgresTokens{q: store.New(db)} }

// ActiveToken implements TokenStore.
func (p *PostgresTokens) ActiveToken(ctx context.Context, digest []byte) (Principal, error) {
	row, err := p.q.GetActiveTokenByHash(ctx, digest)
	if store.IsNotFound(err) {
		return Principal{}, ErrUnknownToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up API token: %w", err)
	}
	return Principal{AccountID: row.AccountID, TokenID: row.ID, Scopes: StoredScopes(row.Scopes)}, nil
}

// Options configure an Authenticator; the zero value of each field takes
// the default named.
type Options struct {
	// Admin is the deployment's admin token (required).
	Admin AdminToken
	// Tokens finds account tokens (required).
	Tokens TokenStore
	// CacheTTL, when positive, keeps each verified account token for that
	// long, so a busy client does not cost a database round trip per
	// request; a revoked token then keeps working for at most CacheTTL.
	// Zero means no cache: a revocation takes effect on the next request.
	CacheTTL time.Duration
	// CacheSize bounds the cached tokens (DefaultCacheSize).
	CacheSize int
	// FailureBurst and FailureInterval shape the throttle on failed
	// authentications per client address (DefaultFailureBurst,
	// DefaultFailureInterval).
	FailureBurst    int
	FailureInterval time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// address (ClientAddresses); none by default.
	TrustedProxies []netip.Prefix
}

// DefaultCacheSize bounds the verified tokens a cache keeps.
const DefaultCacheSize = 10_000

// Authenticator turns a request's credential into a Principal.
type Authenticator struct {
	admin    AdminToken
	tokens   TokenStore
	cache    *expirable.LRU[string, Principal]
	throttle *FailureThrottle
	clients  ClientAddresses
	now      func() time.Time
}

// NewAuthenticator checks opts and builds the authenticator.
func NewAuthenticator(opts Options) (*Authenticator, error) {
	if opts.Admin == (AdminToken{}) {
		return nil, errors.New("credential: Options.Admin is required")
	}
	if opts.Tokens == nil {
		return nil, errors.New("credential: Options.Tokens is required")
	}
	if opts.CacheTTL < 0 || opts.CacheSize < 0 {
		return nil, errors.New("credential: CacheTTL and CacheSize must not be negative")
	}
	a := &Authenticator{
		admin:    opts.Admin,
		tokens:   opts.Tokens,
		throttle: NewFailureThrottle(opts.FailureBurst, opts.FailureInterval),
		clients:  NewClientAddresses(opts.TrustedProxies),
		now:      time.Now,
	}
	if opts.CacheTTL > 0 {
		size := opts.CacheSize
		if size == 0 {
			size = DefaultCacheSize
		}
		a.cache = expirable.NewLRU[string, Principal](size, nil, opts.CacheTTL)
	}
	return a, nil
}

// Authenticate reads r's credential and says who it is. The error is a
// *Refusal (401 no, malformed or unknown credential; 429 the client address
// is throttled) or, when the token store fails, an outage error to answer
// 5xx without charging the client.
//
// Order of work, cheapest first: parse the headers; the cache of recently
// verified account tokens; then, only if the client address is not
// throttled, the admin token (a constant-time digest comparison) and the
// database. So a throttled address costs no database lookup, while an
// account token verified within CacheTTL still passes: a PBX sharing a NAT
// address with a misconfigured or hostile neighbour keeps working. The
// cache is no guessing oracle (account tokens are 32 random bytes); the
// admin token, which the operator chose and may be weaker, is refused like
// any other from a throttled address, so it cannot be guessed there at
// full speed. Every failure is charged to the address; a missing
// credential is not (it costs nothing and guesses nothing).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	token, err := FromHeader(r.Header)
	if errors.Is(err, ErrMissing) {
		return Principal{}, &Refusal{Status: http.StatusUnauthorized,
			Message: "missing credential: send " + HeaderAuthToken + ": <token> or " + HeaderAuthorization + ": Bearer <token>"}
	}
	if err != nil {
		address, now := a.clients.Of(r), a.now()
		if refusal := a.throttled(address, now); refusal != nil {
			return Principal{}, refusal
		}
		a.throttle.Fail(address, now)
		return Principal{}, &Refusal{Status: http.StatusUnauthorized, Message: err.Error()}
	}
	digest := Hash(token)
	if a.cache != nil {
		if p, ok := a.cache.Get(string(digest)); ok {
			return p, nil
		}
	}
	// Only past the cache: a cache hit, ingest's common case, needs no
	// client address.
	address, now := a.clients.Of(r), a.now()
	if refusal := a.throttled(address, now); refusal != nil {
		return Principal{}, refusal
	}
	if a.admin.Matches(token) {
		return Principal{Admin: true}, nil
	}
	p, err := a.tokens.ActiveToken(ctx, digest)
	if errors.Is(err, ErrUnknownToken) {
		a.throttle.Fail(address, now)
		return Principal{}, &Refusal{Status: http.StatusUnauthorized, Message: "invalid or revoked token"}
	}
	if err != nil {
		return Principal{}, err
	}
	if a.cache != nil {
		a.cache.Add(string(digest), p)
	}
	return p, nil
}

// throttled is the 429 for an address that has spent its allowance, with
// Retry-After in whole seconds.
func (a *Authenticator) throttled(address string, now time.Time) *Refusal {
	wait, throttled := a.throttle.Throttled(address, now)
	if !throttled {
		return nil
	}
	seconds := int64((wait + time.Second - 1) / time.Second)
	return &Refusal{Status: http.StatusTooManyRequests, RetryAfter: time.Duration(seconds) * time.Second,
		Message: "too many failed authentications from this address; retry after " + strconv.FormatInt(seconds, 10) + " s"}
}
