package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// issueToken stores an account token with scopes, as the API's
// PUT /v1/accounts/{a}/tokens does.
func issueToken(t *testing.T, pool *pgxpool.Pool, account string, scopes ...credential.Scope) string {
	t.Helper()
	id, token, err := credential.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	q := store.New(pool)
	if err := q.EnsureAccount(t.Context(), account); err != nil {
		t.Fatal(err)
	}
	if _, err := q.CreateToken(t.Context(), store.CreateTokenParams{
		ID: id, AccountID: account, Name: "pbx", TokenHash: credential.Hash(token), Scopes: credential.Scopes(scopes).Strings(),
	}); err != nil {
		t.Fatal(err)
	}
	return token
}

// clientFrom is a client whose connections come from localIP (any address
// of 127.0.0.0/8 works on loopback), so a test can be two client addresses.
func clientFrom(localIP string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}, Timeout: 30 * time.Second}
}

// send posts body to path with the given headers and decodes the answer,
// which must be JSON in the API's error format whenever it is not 2xx.
func send(t *testing.T, client *http.Client, url, contentType string, body []byte, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
	}
	if a.status >= 400 && (a.body["status"] != "error" || a.body["error"] != strconv.Itoa(a.status) || a.body["data"] == nil) {
		t.Fatalf("answer %d is not in the API's error format: %v", a.status, a.body)
	}
	return a
}

// uploadBody is a small voicemail upload form.
func uploadBody(t *testing.T) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"type": "voicemail", "call_id": "c1", "filename": "vm.mp3", "content_type": "audio/mpeg"} {
		_ = mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", "vm.mp3")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write([]byte("ID3 not really an mp3"))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// The finding: ingest accepted events and media for any account from
// anyone. Every intake route now wants a credential that may feed the
// account.
func TestIntakeRequiresACredentialThatMayFeedTheAccount(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	srv, pool := newAuthServer(t, nc, js, testLimits, credential.Options{})
	pbx := issueToken(t, pool, "acme", credential.ScopePBX)
	apiOnly := issueToken(t, pool, "acme", credential.ScopeAPI)
	both := issueToken(t, pool, "acme", credential.ScopeAPI, credential.ScopePBX)
	shared := issueToken(t, pool, "operator", credential.ScopePBXAny)
	client := clientFrom("127.0.0.1")

	native := []byte(`{"event":"channel_create","call_id":"c1","direction":"inbound"}`)
	freeswitch := []byte(`{"Event-Name":"CHANNEL_CREATE","Event-UUID":"fs-1","Unique-ID":"u1","Call-Direction":"inbound"}`)
	anyFreeswitch := []byte(`{"Event-Name":"CHANNEL_CREATE","Event-UUID":"fs-2","Unique-ID":"u2","Call-Direction":"inbound","variable_account_id":"acme"}`)
	anyARI := []byte(`{"type":"ChannelCreated","channel":{"id":"1.1","state":"Ring","channelvars":{"account_id":"acme"}}}`)
	uploadType, upload := uploadBody(t)

	routes := []struct {
		path, contentType string
		body              []byte
	}{
		{"/v1/accounts/acme/events", "application/json", native},
		{"/v1/accounts/acme/events/freeswitch", "application/json", freeswitch},
		{"/v1/accounts/acme/events/ari", "application/json", anyARI},
		{"/v1/accounts/acme/media", uploadType, upload},
		{"/v1/accounts/any/events/freeswitch", "application/json", anyFreeswitch},
		{"/v1/accounts/any/events/ari", "application/json", anyARI},
	}
	for _, r := range routes {
		a := send(t, client, srv.URL+r.path, r.contentType, r.body)
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s without a credential: %d %v, want 401", r.path, a.status, a.body)
		}
		a = send(t, client, srv.URL+r.path, r.contentType, r.body, "X-Auth-Token", "pbxt_not-a-token")
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s with an unknown token: %d %v, want 401", r.path, a.status, a.body)
		}
		a = send(t, client, srv.URL+r.path, r.contentType, r.body, "X-Auth-Token", apiOnly)
		if a.status != http.StatusForbidden {
			t.Errorf("%s with an api-only token: %d %v, want 403", r.path, a.status, a.body)
		}
	}

	tests := []struct {
		name, path, contentType string
		body                    []byte
		headers                 []string
		want                    int
	}{
		{"pbx token, own account", "/v1/accounts/acme/events", "application/json", native, []string{"X-Auth-Token", pbx}, http.StatusAccepted},
		{"pbx token as Bearer", "/v1/accounts/acme/events/freeswitch", "application/json", freeswitch, []string{"Authorization", "Bearer " + pbx}, http.StatusAccepted},
		{"pbx token uploads media", "/v1/accounts/acme/media", uploadType, upload, []string{"X-Auth-Token", pbx}, http.StatusAccepted},
		{"api+pbx token", "/v1/accounts/acme/events", "application/json", native, []string{"X-Auth-Token", both}, http.StatusAccepted},
		{"pbx token, another account", "/v1/accounts/globex/events", "application/json", native, []string{"X-Auth-Token", pbx}, http.StatusForbidden},
		{"pbx token, another account's media", "/v1/accounts/globex/media", uploadType, upload, []string{"X-Auth-Token", pbx}, http.StatusForbidden},
		{"pbx token, shared route", "/v1/accounts/any/events/freeswitch", "application/json", anyFreeswitch, []string{"X-Auth-Token", pbx}, http.StatusForbidden},
		{"pbx_any token, shared FreeSWITCH route", "/v1/accounts/any/events/freeswitch", "application/json", anyFreeswitch, []string{"X-Auth-Token", shared}, http.StatusAccepted},
		{"pbx_any token, shared ARI route", "/v1/accounts/any/events/ari", "application/json", anyARI, []string{"Authorization", "Bearer " + shared}, http.StatusAccepted},
		{"pbx_any token, a specific account", "/v1/accounts/acme/events", "application/json", native, []string{"X-Auth-Token", shared}, http.StatusForbidden},
		{"pbx_any token, its own account", "/v1/accounts/operator/events", "application/json", native, []string{"X-Auth-Token", shared}, http.StatusForbidden},
		{"admin token, shared route", "/v1/accounts/any/events/ari", "application/json", anyARI, []string{"X-Auth-Token", testAdminToken}, http.StatusAccepted},
		{"admin token, any account", "/v1/accounts/globex/events", "application/json", native, []string{"Authorization", "Bearer " + testAdminToken}, http.StatusAccepted},
		{"disagreeing headers", "/v1/accounts/acme/events", "application/json", native, []string{"X-Auth-Token", pbx, "Authorization", "Bearer " + both}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		a := send(t, client, srv.URL+tt.path, tt.contentType, tt.body, tt.headers...)
		if a.status != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.name, a.status, a.body, tt.want)
		}
	}
}

// countingTokens counts the lookups that reach PostgreSQL.
type countingTokens struct {
	credential.TokenStore
	lookups atomic.Int64
}

func (c *countingTokens) ActiveToken(ctx context.Context, digest []byte) (credential.Principal, error) {
	c.lookups.Add(1)
	return c.TokenStore.ActiveToken(ctx, digest)
}

// The finding: 3,000 wrong tokens were 3,000 x 401, each a hash and a
// database lookup. Now an address gets its burst of lookups, then 429s
// that cost none; another address is unaffected; and a PBX token verified
// before (in the cache) keeps working from the throttled address, while
// the admin token does not.
func TestWrongTokensAreThrottledPerAddressBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	tokens := &countingTokens{}
	srv, pool := newAuthServer(t, nc, js, testLimits, credential.Options{
		Tokens: tokens, CacheTTL: time.Minute, FailureBurst: 5, FailureInterval: time.Hour,
	})
	tokens.TokenStore = credential.NewPostgresTokens(pool)
	good := issueToken(t, pool, "acme", credential.ScopePBX)
	notYetUsed := issueToken(t, pool, "acme", credential.ScopePBX)
	attacker, neighbour := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	url := srv.URL + "/v1/accounts/acme/events"
	native := []byte(`{"event":"channel_create","call_id":"c1"}`)

	if a := send(t, attacker, url, "application/json", native, "X-Auth-Token", good); a.status != http.StatusAccepted {
		t.Fatalf("good token: %d %v", a.status, a.body)
	}
	lookups := tokens.lookups.Load()
	statuses := map[int]int{}
	for range 300 {
		a := send(t, attacker, url, "application/json", native, "X-Auth-Token", "pbxt_guess")
		statuses[a.status]++
		if a.status == http.StatusTooManyRequests && a.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 295 {
		t.Fatalf("statuses %v; want 5 x 401, then 295 x 429", statuses)
	}
	if n := tokens.lookups.Load() - lookups; n != 5 {
		t.Fatalf("%d database lookups for 300 wrong tokens; want 5", n)
	}
	if a := send(t, neighbour, url, "application/json", native, "X-Auth-Token", notYetUsed); a.status != http.StatusAccepted {
		t.Fatalf("another address: %d %v, want 202", a.status, a.body)
	}
	if a := send(t, attacker, url, "application/json", native, "X-Auth-Token", good); a.status != http.StatusAccepted {
		t.Fatalf("cached good token from the throttled address: %d %v, want 202", a.status, a.body)
	}
	if a := send(t, attacker, url, "application/json", native, "X-Auth-Token", testAdminToken); a.status != http.StatusTooManyRequests {
		t.Fatalf("admin token from the throttled address: %d %v, want 429 (it could be guessed there)", a.status, a.body)
	}
	// A third token the throttled address never used would need a lookup.
	third := issueToken(t, pool, "acme", credential.ScopePBX)
	before := tokens.lookups.Load()
	if a := send(t, attacker, url, "application/json", native, "X-Auth-Token", third); a.status != http.StatusTooManyRequests {
		t.Fatalf("uncached token from the throttled address: %d %v, want 429", a.status, a.body)
	}
	if tokens.lookups.Load() != before {
		t.Fatal("a throttled address cost a database lookup")
	}
}

// Behind a trusted proxy (AUTH_TRUSTED_PROXY_CIDRS) the throttle counts the
// client X-Forwarded-For names, so one client's wrong tokens do not
// throttle every PBX behind the same load balancer; from an untrusted peer
// the header is ignored.
func TestThrottleCountsTheClientATrustedProxyNames(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	srv, pool := newAuthServer(t, nc, js, testLimits, credential.Options{
		FailureBurst: 3, FailureInterval: time.Hour, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
	})
	good := issueToken(t, pool, "acme", credential.ScopePBX)
	proxy, direct := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")
	url := srv.URL + "/v1/accounts/acme/events"
	native := []byte(`{"event":"channel_create","call_id":"c1"}`)

	statuses := map[int]int{}
	for range 10 {
		statuses[send(t, proxy, url, "application/json", native, "X-Auth-Token", "pbxt_guess", "X-Forwarded-For", "198.51.100.1").status]++
	}
	if statuses[http.StatusUnauthorized] != 3 || statuses[http.StatusTooManyRequests] != 7 {
		t.Fatalf("one client behind the proxy: %v; want 3 x 401, 7 x 429", statuses)
	}
	if a := send(t, proxy, url, "application/json", native, "X-Auth-Token", good, "X-Forwarded-For", "198.51.100.2"); a.status != http.StatusAccepted {
		t.Fatalf("another client behind the same proxy: %d %v, want 202", a.status, a.body)
	}
	// A direct client cannot pick its key by writing the header.
	for range 3 {
		send(t, direct, url, "application/json", native, "X-Auth-Token", "pbxt_guess", "X-Forwarded-For", "203.0.113.9")
	}
	if a := send(t, direct, url, "application/json", native, "X-Auth-Token", "pbxt_guess", "X-Forwarded-For", "203.0.113.10"); a.status != http.StatusTooManyRequests {
		t.Fatalf("untrusted peer with a new X-Forwarded-For each time: %d, want 429", a.status)
	}
}
