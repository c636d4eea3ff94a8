package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/services/api/internal/console"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const adminToken = "console-admin-token-0123456789"

// rig is the API with the console mounted, served over real HTTP on a
// private database and NATS server.
type rig struct {
	url  string
	pool *pgxpool.Pool
	nc   *nats.Conn
}

func newRig(t *testing.T) *rig {
	t.Helper()
	_, pool := testenv.Postgres(t)
	_, nc, js := testenv.JetStream(t)
	log := slog.New(slog.NewJSONHandler(t.Output(), nil))
	keys, err := medialink.ParseKeys("k1:" + strings.Repeat("s", medialink.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Deps{Pool: pool, NATS: nc, JetStream: js, Logger: log, AdminToken: adminToken,
		MaxBodyBytes: 1 << 20, RateLimit: 1e6, RateBurst: 1e6,
		Media: httpapi.MediaDeps{LinkKeys: keys, Links: &medialink.Linker{BaseURL: "https://api.example", Keys: keys, TTL: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Deps{API: api.Handler(), Authenticate: api.Authenticate, Pool: pool, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(console.MountPath, con)
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	return &rig{url: ts.URL, pool: pool, nc: nc}
}

// browser is a cookie-keeping client that does not follow redirects, so
// each answer can be checked.
type browser struct {
	t    *testing.T
	rig  *rig
	http *http.Client
}

func (r *rig) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, rig: r, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) get(path string) page {
	b.t.Helper()
	resp, err := b.http.Get(b.rig.url + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	return read(b.t, resp)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	resp, err := b.http.PostForm(b.rig.url+path, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	return read(b.t, resp)
}

func read(t *testing.T, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (p page) expect(t *testing.T, status int, contains ...string) page {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d; page:\n%s", p.status, status, p.body)
	}
	for _, want := range contains {
		if !strings.Contains(p.body, want) {
			t.Fatalf("page lacks %q:\n%s", want, p.body)
		}
	}
	return p
}

func (p page) redirectsTo(t *testing.T, prefix string) {
	t.Helper()
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), prefix) {
		t.Fatalf("answer %d to %q, want 303 to %s...; page:\n%s", p.status, p.header.Get("Location"), prefix, p.body)
	}
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("page has no CSRF field:\n%s", p.body)
	}
	return m[1]
}

// signIn signs in with token and returns the CSRF token of the session.
func (b *browser) signIn(token string) page {
	b.t.Helper()
	form := b.get("/console/sign-in").expect(b.t, http.StatusOK, `name="token"`)
	return b.post("/console/sign-in", url.Values{"csrf_token": {form.csrf(b.t)}, "token": {token}})
}

// accountToken makes a token of account with the given scopes (admin API).
func (r *rig) accountToken(t *testing.T, b *browser, account string, scopes ...string) string {
	t.Helper()
	p := b.get("/console/a/"+account+"/tokens").expect(t, http.StatusOK)
	form := url.Values{"csrf_token": {p.csrf(t)}, "name": {"console-test"}, "scopes": scopes}
	created := b.post("/console/a/"+account+"/tokens", form).expect(t, http.StatusOK, "shown only now")
	m := regexp.MustCompile(`<code id="token-value">([^<]+)</code>`).FindStringSubmatch(created.body)
	if m == nil {
		t.Fatalf("no token on the page:\n%s", created.body)
	}
	return m[1]
}

func TestSignInSetsAStrictSessionCookieAndStoresNoTokenInIt(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	// Without a session every page leads to the sign-in form.
	b.get("/console/a/acme/webhooks").redirectsTo(t, "/console/sign-in?next=")

	answer := b.signIn(adminToken)
	answer.redirectsTo(t, "/console")
	var session *http.Cookie
	for _, c := range (&http.Response{Header: answer.header}).Cookies() {
		if c.Name == "pbxhooks_console" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no session cookie in %v", answer.header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure || session.Path != "/console" {
		t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict, not Secure over plain HTTP, Path /console", session)
	}
	if strings.Contains(session.Value, adminToken) {
		t.Errorf("the cookie carries the token")
	}
	var sealed []byte
	var admin bool
	if err := r.pool.QueryRow(context.Background(), `SELECT sealed_token, admin FROM console_sessions`).Scan(&sealed, &admin); err != nil {
		t.Fatalf("session row: %v", err)
	}
	if !admin || strings.Contains(string(sealed), adminToken) {
		t.Errorf("session row admin=%v sealed=%q: want the admin, and the token sealed", admin, sealed)
	}
	b.get("/console").redirectsTo(t, "/console/accounts")
	b.get("/console/accounts?account_id=acme").redirectsTo(t, "/console/a/acme/webhooks")
}

func TestSessionCookieIsSecureBehindTLS(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	form := b.get("/console/sign-in").expect(t, http.StatusOK)
	req, err := http.NewRequest(http.MethodPost, r.url+"/console/sign-in",
		strings.NewReader(url.Values{"csrf_token": {form.csrf(t)}, "token": {adminToken}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	for _, c := range b.http.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	secure := false
	for _, c := range resp.Cookies() {
		if c.Name == "pbxhooks_console" {
			secure = c.Secure
		}
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Fatalf("sign-in behind TLS: status %d, Secure %v; want 303 and a Secure cookie", resp.StatusCode, secure)
	}
}

func TestSignInRefusesBadTokensAndFormsWithoutCSRF(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn("not-a-token-of-this-deployment").expect(t, http.StatusUnauthorized, "That token was refused")

	form := b.get("/console/sign-in").expect(t, http.StatusOK)
	_ = form
	b.post("/console/sign-in", url.Values{"token": {adminToken}}).expect(t, http.StatusForbidden, "CSRF")
	var n int
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("sessions after refused sign-ins: %d (%v), want 0", n, err)
	}

	// A PBX-only token may not use the management API, nor the console.
	admin := r.browser(t)
	admin.signIn(adminToken).redirectsTo(t, "/console")
	pbx := r.accountToken(t, admin, "acme", "pbx")
	r.browser(t).signIn(pbx).expect(t, http.StatusForbidden, "That token was refused")
}

func TestFormWithoutCSRFTokenIsRefused(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	form := url.Values{"name": {"Missed"}, "uri": {"https://crm.example.com/missed"}, "http_verb": {"post"}, "format": {"json"}, "retries": {"2"}, "enabled": {"on"}}
	b.post("/console/a/acme/new-webhook/call", form).expect(t, http.StatusForbidden, "CSRF token")
	form.Set("csrf_token", "forged")
	b.post("/console/a/acme/new-webhook/call", form).expect(t, http.StatusForbidden, "CSRF token")
	var n int
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM hooks`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("hooks after refused forms: %d (%v), want 0", n, err)
	}
}

var hookLink = regexp.MustCompile(`href="/console/a/acme/webhooks/([0-9a-f]{32})"`)

// createCallHook adds a missed incoming call webhook through the form and
// returns its id.
func createCallHook(t *testing.T, b *browser, uri string) string {
	t.Helper()
	form := b.get("/console/a/acme/new-webhook/call").expect(t, http.StatusOK, `value="incoming_call"`, `value="missed"`)
	created := b.post("/console/a/acme/new-webhook/call", url.Values{"csrf_token": {form.csrf(t)},
		"name": {"Missed calls"}, "uri": {uri}, "http_verb": {"post"}, "format": {"json"}, "retries": {"2"},
		"enabled": {"on"}, "call_types": {"incoming_call"}, "call_statuses": {"missed"}}).
		expect(t, http.StatusOK, "Webhook created.", "whsec_", "incoming_call / missed")
	m := regexp.MustCompile(`<code>([0-9a-f]{32})</code>`).FindStringSubmatch(created.body)
	if m == nil {
		t.Fatalf("no hook id on the page:\n%s", created.body)
	}
	return m[1]
}

func TestWebhookLifecycleThroughTheForms(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	id := createCallHook(t, b, "https://crm.example.com/missed")

	list := b.get("/console/a/acme/webhooks").expect(t, http.StatusOK, "Missed calls", "https://crm.example.com/missed")
	if m := hookLink.FindStringSubmatch(list.body); m == nil || m[1] != id {
		t.Fatalf("list does not link hook %s:\n%s", id, list.body)
	}
	b.get("/console/a/acme/webhooks?q=nomatch").expect(t, http.StatusOK, "No hook matches")
	b.get("/console/a/acme/webhooks?q=MISSED").expect(t, http.StatusOK, "/console/a/acme/webhooks/"+id)

	// The API's validation reaches the form: a relative URL is refused.
	form := b.get("/console/a/acme/new-webhook/media").expect(t, http.StatusOK, `value="voicemail"`)
	b.post("/console/a/acme/new-webhook/media", url.Values{"csrf_token": {form.csrf(t)}, "name": {"VM"}, "uri": {"/relative"},
		"http_verb": {"post"}, "format": {"json"}, "retries": {"2"}, "media_types": {"voicemail"}}).
		expect(t, http.StatusBadRequest, "The API refused this webhook", "uri:")

	// Edit at the current revision, then again at the stale one.
	edit := b.get("/console/a/acme/webhooks/"+id+"/edit").expect(t, http.StatusOK, `name="revision" value="1"`)
	fields := url.Values{"csrf_token": {edit.csrf(t)}, "revision": {"1"}, "name": {"Missed calls (CRM)"},
		"uri": {"https://crm.example.com/missed"}, "http_verb": {"post"}, "format": {"json"}, "retries": {"3"},
		"enabled": {"on"}, "call_types": {"incoming_call"}, "call_statuses": {"missed"}}
	b.post("/console/a/acme/webhooks/"+id+"/edit", fields).redirectsTo(t, "/console/a/acme/webhooks/"+id)
	b.get("/console/a/acme/webhooks/"+id).expect(t, http.StatusOK, "Missed calls (CRM)", "Revision</dt><dd>2")
	fields.Set("name", "Lost update")
	b.post("/console/a/acme/webhooks/"+id+"/edit", fields).expect(t, http.StatusConflict, "Revision conflict", "Lost update", `name="revision" value="2"`)

	// Disable at a stale revision is a conflict too; at the current one it works.
	detail := b.get("/console/a/acme/webhooks/" + id)
	b.post("/console/a/acme/webhooks/"+id+"/disable", url.Values{"csrf_token": {detail.csrf(t)}, "revision": {"1"}}).
		expect(t, http.StatusConflict, "Revision conflict")
	b.post("/console/a/acme/webhooks/"+id+"/disable", url.Values{"csrf_token": {detail.csrf(t)}, "revision": {"2"}}).
		redirectsTo(t, "/console/a/acme/webhooks/"+id)
	b.get("/console/a/acme/webhooks").expect(t, http.StatusOK, `<span class="state disabled">disabled</span>`)

	rotated := b.post("/console/a/acme/webhooks/"+id+"/secret", url.Values{"csrf_token": {detail.csrf(t)}}).
		expect(t, http.StatusOK, "Signing secret rotated", "whsec_")
	_ = rotated
	b.post("/console/a/acme/webhooks/"+id+"/delete", url.Values{"csrf_token": {detail.csrf(t)}}).redirectsTo(t, "/console/a/acme/webhooks")
	b.get("/console/a/acme/webhooks/"+id).expect(t, http.StatusNotFound, "webhook not found")
}

func TestKazooHookCarriesCustomData(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	form := b.get("/console/a/acme/new-webhook/kazoo").expect(t, http.StatusOK, `value="channel_create"`)
	b.post("/console/a/acme/new-webhook/kazoo", url.Values{"csrf_token": {form.csrf(t)}, "name": {"New calls"},
		"uri": {"https://crm.example.com/new"}, "http_verb": {"post"}, "format": {"form-data"}, "retries": {"2"},
		"hook": {"channel_create"}, "custom_data": {`{"crm": "42"`}}).
		expect(t, http.StatusBadRequest, "custom_data")
	b.post("/console/a/acme/new-webhook/kazoo", url.Values{"csrf_token": {form.csrf(t)}, "name": {"New calls"},
		"uri": {"https://crm.example.com/new"}, "http_verb": {"post"}, "format": {"form-data"}, "retries": {"2"},
		"hook": {"channel_create"}, "custom_data": {`{"crm": "42"}`}, "enabled": {"on"}}).
		expect(t, http.StatusOK, "Webhook created.", "channel_create")
	var custom string
	if err := r.pool.QueryRow(context.Background(), `SELECT custom_data::text FROM hooks`).Scan(&custom); err != nil || custom != `{"crm": "42"}` {
		t.Fatalf("stored custom_data %q (%v)", custom, err)
	}
}

func TestAccountTokenSeesOnlyItsOwnAccount(t *testing.T) {
	r := newRig(t)
	admin := r.browser(t)
	admin.signIn(adminToken).redirectsTo(t, "/console")
	createCallHook(t, admin, "https://crm.example.com/missed")
	token := r.accountToken(t, admin, "acme", "api")
	r.accountToken(t, admin, "other", "api")

	user := r.browser(t)
	user.signIn(token).redirectsTo(t, "/console/a/acme/webhooks")
	user.get("/console/a/acme/webhooks").expect(t, http.StatusOK, "Missed calls")
	user.get("/console/a/other/webhooks").expect(t, http.StatusForbidden, "You may not open this")
	user.get("/console/a/other/deliveries").expect(t, http.StatusForbidden)
	// Only the admin manages tokens, and the navigation does not offer it.
	page := user.get("/console/a/acme/tokens").expect(t, http.StatusForbidden)
	list := user.get("/console/a/acme/webhooks")
	if strings.Contains(list.body, "API tokens") {
		t.Errorf("an account token's navigation offers API tokens")
	}
	user.post("/console/a/other/webhooks/re-enable", url.Values{"csrf_token": {page.csrf(t)}}).expect(t, http.StatusForbidden)
}

func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	u, _ := url.Parse(r.url + "/console")
	stolen := b.http.Jar.Cookies(u)
	page := b.get("/console/a/acme/webhooks").expect(t, http.StatusOK)
	b.post("/console/sign-out", url.Values{"csrf_token": {page.csrf(t)}}).redirectsTo(t, "/console/sign-in")

	// The cookie copied before sign-out is worthless now.
	replay := r.browser(t)
	replay.http.Jar.SetCookies(u, stolen)
	replay.get("/console/a/acme/webhooks").redirectsTo(t, "/console/sign-in")
	var n int
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("sessions after sign-out: %d (%v), want 0", n, err)
	}
}

func TestExpiredSessionLeadsToSignIn(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	b.get("/console/a/acme/webhooks").expect(t, http.StatusOK)
	if _, err := r.pool.Exec(context.Background(), `UPDATE console_sessions SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	b.get("/console/a/acme/webhooks").redirectsTo(t, "/console/sign-in")
	b.post("/console/sign-out", url.Values{}).expect(t, http.StatusUnauthorized, "session has ended")
}

func TestRevokedTokenEndsItsSessions(t *testing.T) {
	r := newRig(t)
	admin := r.browser(t)
	admin.signIn(adminToken).redirectsTo(t, "/console")
	token := r.accountToken(t, admin, "acme", "api")
	user := r.browser(t)
	user.signIn(token).redirectsTo(t, "/console/a/acme/webhooks")

	tokens := admin.get("/console/a/acme/tokens").expect(t, http.StatusOK, "console-test")
	id := regexp.MustCompile(`/console/a/acme/tokens/([^/"]+)/revoke`).FindStringSubmatch(tokens.body)
	admin.post("/console/a/acme/tokens/"+id[1]+"/revoke", url.Values{"csrf_token": {tokens.csrf(t)}}).redirectsTo(t, "/console/a/acme/tokens")

	user.get("/console/a/acme/webhooks").expect(t, http.StatusUnauthorized, "Sign in again")
	user.get("/console/a/acme/webhooks").redirectsTo(t, "/console/sign-in")
}

func TestDeliveriesDeadLettersAndSettingsPages(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	createCallHook(t, b, "https://crm.example.com/missed")
	b.get("/console/a/acme/deliveries").expect(t, http.StatusOK, "No deliveries match", "Missed calls")
	b.get("/console/a/acme/deliveries?result=bogus").expect(t, http.StatusBadRequest, "result")
	b.get("/console/a/acme/deliveries?from=2026-01-02T10:00&to=2026-01-01T10:00").expect(t, http.StatusBadRequest, "must be after from")
	b.get("/console/a/acme/dead-letters").expect(t, http.StatusOK, "No dead letters")

	settings := b.get("/console/a/acme/settings").expect(t, http.StatusOK, `placeholder="default"`)
	b.post("/console/a/acme/settings", url.Values{"csrf_token": {settings.csrf(t)}, "attempt_failure_count": {"0"}}).
		expect(t, http.StatusBadRequest, "attempt_failure_count")
	b.post("/console/a/acme/settings", url.Values{"csrf_token": {settings.csrf(t)}, "attempt_failure_count": {"7"},
		"attempt_failure_expiry_seconds": {"600"}}).redirectsTo(t, "/console/a/acme/settings")
	b.get("/console/a/acme/settings").expect(t, http.StatusOK, `value="7"`, `value="600"`)
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	r := newRig(t)
	p := r.browser(t).get("/console/sign-in").expect(t, http.StatusOK)
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", p.header.Get("Cache-Control"))
	}
	r.browser(t).get("/console/static/console.css").expect(t, http.StatusOK, "--accent")
	r.browser(t).get("/console/nowhere").expect(t, http.StatusNotFound)
}

func TestResendAndRecoverShowTheAPIsAnswers(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	id := createCallHook(t, b, "https://crm.example.com/missed")
	detail := b.get("/console/a/acme/webhooks/"+id).expect(t, http.StatusOK, "Recover failed deliveries", `name="since"`)

	b.post("/console/a/acme/deliveries/no-such-delivery/resend", url.Values{"csrf_token": {detail.csrf(t)}}).
		expect(t, http.StatusNotFound, "delivery not found")
	b.post("/console/a/acme/deliveries/no-such-delivery/resend", url.Values{}).expect(t, http.StatusForbidden, "CSRF token")

	b.post("/console/a/acme/webhooks/"+id+"/recover", url.Values{"csrf_token": {detail.csrf(t)}, "since": {"2026-01-01T10:00"}, "dry_run": {"on"}}).
		expect(t, http.StatusOK, "(dry run)", "No failed deliveries since then")
	b.post("/console/a/acme/webhooks/"+id+"/recover", url.Values{"csrf_token": {detail.csrf(t)}, "since": {"yesterday"}}).
		expect(t, http.StatusBadRequest, "since: must be an RFC 3339 date-time")
}

func TestSimulatorFormShowsTheAPIsRefusal(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	createCallHook(t, b, "https://crm.example.com/missed")
	form := b.get("/console/a/acme/simulate").expect(t, http.StatusOK, `<option value="missed-call" selected>`, `value="voicemail"`)
	b.post("/console/a/acme/simulate", url.Values{"scenario": {"missed-call"}}).expect(t, http.StatusForbidden, "CSRF token")
	b.post("/console/a/acme/simulate", url.Values{"csrf_token": {form.csrf(t)}, "scenario": {"no-such-scenario"}, "direction": {"inbound"}}).
		expect(t, http.StatusBadRequest, "scenario")
}
