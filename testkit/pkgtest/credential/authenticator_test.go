package credential_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const adminToken = "admin-token-for-tests-0123456789"

// countingTokens counts the lookups that reach PostgreSQL.
type countingTokens struct {
	credential.TokenStore
	lookups atomic.Int64
}

func (c *countingTokens) ActiveToken(ctx context.Context, digest []byte) (credential.Principal, error) {
	c.lookups.Add(1)
	return c.TokenStore.ActiveToken(ctx, digest)
}

type fixture struct {
	auth   *credential.Authenticator
	tokens *countingTokens
	q      *store.Queries
}

func newFixture(t *testing.T, opts credential.Options) fixture {
	t.Helper()
	_, pool := testenv.Postgres(t)
	admin, err := credential.NewAdminToken(adminToken)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &countingTokens{TokenStore: credential.NewPostgresTokens(pool)}
	opts.Admin, opts.Tokens = admin, tokens
	auth, err := credential.NewAuthenticator(opts)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{auth: auth, tokens: tokens, q: store.New(pool)}
}

// issue stores a token for account with scopes, as the API does.
func (f fixture) issue(t *testing.T, account string, scopes ...credential.Scope) (id, token string) {
	t.Helper()
	id, token, err := credential.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.q.EnsureAccount(t.Context(), account); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.CreateToken(t.Context(), store.CreateTokenParams{
		ID: id, AccountID: account, Name: "test", TokenHash: credential.Hash(token), Scopes: credential.Scopes(scopes).Strings(),
	}); err != nil {
		t.Fatal(err)
	}
	return id, token
}

func request(remote string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/accounts/a/events", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

func status(err error) int {
	var r *credential.Refusal
	if errors.As(err, &r) {
		return r.Status
	}
	if err == nil {
		return http.StatusOK
	}
	return -1
}

func TestAuthenticateRecognisesEachCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, credential.Options{})
	id, token := f.issue(t, "acme", credential.ScopePBX)

	p, err := f.auth.Authenticate(t.Context(), request("192.0.2.1:1", "Authorization", "Bearer "+token))
	if err != nil || p.Admin || p.AccountID != "acme" || p.TokenID != id || !p.Scopes.Has(credential.ScopePBX) || p.Scopes.Has(credential.ScopeAPI) {
		t.Fatalf("account token: %+v, %v", p, err)
	}
	p, err = f.auth.Authenticate(t.Context(), request("192.0.2.1:1", "X-Auth-Token", adminToken))
	if err != nil || !p.Admin {
		t.Fatalf("admin token: %+v, %v", p, err)
	}
	for name, r := range map[string]*http.Request{
		"none":      request("192.0.2.1:1"),
		"unknown":   request("192.0.2.1:1", "X-Auth-Token", "pbxt_nothing"),
		"malformed": request("192.0.2.1:1", "Authorization", "Basic eDp5"),
	} {
		if _, err := f.auth.Authenticate(t.Context(), r); status(err) != http.StatusUnauthorized {
			t.Errorf("%s: %v, want 401", name, err)
		}
	}
}

// The finding: 3,000 wrong tokens were 3,000 hashes and database lookups.
// Now an address gets its burst of lookups, then 429 without any, while
// another address is unaffected.
func TestWrongTokensAreThrottledBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, credential.Options{FailureBurst: 5, FailureInterval: time.Hour})
	_, token := f.issue(t, "acme", credential.ScopePBX)

	statuses := map[int]int{}
	for range 3000 {
		_, err := f.auth.Authenticate(t.Context(), request("198.51.100.9:4000", "X-Auth-Token", "pbxt_guess"))
		statuses[status(err)]++
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 2995 {
		t.Fatalf("statuses %v; want 5 x 401 then 2995 x 429", statuses)
	}
	if n := f.tokens.lookups.Load(); n != 5 {
		t.Fatalf("%d database lookups; want 5 (the burst)", n)
	}
	var refusal *credential.Refusal
	_, err := f.auth.Authenticate(t.Context(), request("198.51.100.9:4001", "X-Auth-Token", "pbxt_guess"))
	if !errors.As(err, &refusal) || refusal.RetryAfter < time.Second {
		t.Fatalf("429 without Retry-After: %v", err)
	}
	// Malformed credentials count and are refused alike.
	if _, err := f.auth.Authenticate(t.Context(), request("198.51.100.9:4002", "Authorization", "Basic eDp5")); status(err) != http.StatusTooManyRequests {
		t.Fatalf("malformed credential from a throttled address: %v, want 429", err)
	}

	// Another address, even the right token's first use, is unaffected.
	if _, err := f.auth.Authenticate(t.Context(), request("203.0.113.5:4000", "X-Auth-Token", token)); err != nil {
		t.Fatalf("other address: %v", err)
	}
	// The throttled address: the admin token is refused (it is chosen by
	// the operator and could be guessed there at full speed) ...
	if _, err := f.auth.Authenticate(t.Context(), request("198.51.100.9:4003", "X-Auth-Token", adminToken)); status(err) != http.StatusTooManyRequests {
		t.Fatalf("admin token from a throttled address: %v, want 429", err)
	}
	// ... as is an account token that would need a lookup (no cache here).
	before := f.tokens.lookups.Load()
	if _, err := f.auth.Authenticate(t.Context(), request("198.51.100.9:4004", "X-Auth-Token", token)); status(err) != http.StatusTooManyRequests {
		t.Fatalf("uncached right token from a throttled address: %v, want 429", err)
	}
	if f.tokens.lookups.Load() != before {
		t.Fatal("a throttled address cost a lookup")
	}
}

func TestCacheSavesLookupsAndForgetsRevokedTokensWithinTTL(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	f := newFixture(t, credential.Options{CacheTTL: ttl, FailureBurst: 1, FailureInterval: time.Hour})
	id, token := f.issue(t, "acme", credential.ScopePBX)
	for range 50 {
		if _, err := f.auth.Authenticate(t.Context(), request("192.0.2.1:1", "X-Auth-Token", token)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokens.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for 50 requests; want 1", n)
	}
	// A cached token passes from a throttled address: it costs no lookup.
	_, _ = f.auth.Authenticate(t.Context(), request("192.0.2.1:1", "X-Auth-Token", "pbxt_wrong"))
	if _, err := f.auth.Authenticate(t.Context(), request("192.0.2.1:1", "X-Auth-Token", "pbxt_wrong")); status(err) != http.StatusTooManyRequests {
		t.Fatalf("address not throttled: %v", err)
	}
	if _, err := f.auth.Authenticate(t.Context(), request("192.0.2.1:1", "X-Auth-Token", token)); err != nil {
		t.Fatalf("cached token from a throttled address: %v", err)
	}

	if _, err := f.q.RevokeToken(t.Context(), store.RevokeTokenParams{AccountID: "acme", ID: id}); err != nil {
		t.Fatal(err)
	}
	// The entry was cached before the revocation, so it has expired by
	// revokedAt+ttl: from then on the token is refused.
	revokedAt := time.Now()
	time.Sleep(time.Until(revokedAt.Add(ttl)))
	if _, err := f.auth.Authenticate(t.Context(), request("203.0.113.1:1", "X-Auth-Token", token)); status(err) != http.StatusUnauthorized {
		t.Fatalf("revoked token one cache TTL after revocation: %v, want 401", err)
	}
}

func TestNewAdminTokenRefusesWhatCannotBePresented(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"short", "has a space in it somewhere", "non-ascii-tökén-0123456789"} {
		if _, err := credential.NewAdminToken(bad); err == nil {
			t.Errorf("NewAdminToken(%q) accepted", bad)
		}
	}
	if (credential.AdminToken{}).Matches("") {
		t.Error("the zero AdminToken matches the empty token")
	}
}
