// Package console is the browser console served at /console/: server-
// rendered pages (html/template, embedded) for managing an account's
// webhooks and reading their deliveries. It is a client of the API's own
// REST routes: every page calls them, in process, with the signed-in
// user's token, so validation, tenant checks and revisions have one
// definition, in the API. What the console keeps itself is the browser
// session (PostgreSQL, shared by API replicas) and its CSRF token.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
)

// MountPath is where the API serves the console.
const MountPath = "/console"

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 8 * time.Hour

// maxAPIAnswerBytes bounds one API answer the console reads.
const maxAPIAnswerBytes = 16 << 20

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Deps is what the console needs from the API process.
type Deps struct {
	// API serves the REST routes the console calls (the API's handler).
	API http.Handler
	// Authenticate checks a sign-in token exactly as the API checks a
	// request's credential (pkg/credential, with its failure throttle).
	Authenticate func(*http.Request) (credential.Principal, error)
	// Pool holds the sessions (console_sessions).
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	// SessionTTL is how long a sign-in lasts (DefaultSessionTTL).
	SessionTTL time.Duration
}

// Console is the console's HTTP handler.
type Console struct {
	deps     Deps
	sessions *sessions
	http     *http.Client
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New builds the console.
func New(deps Deps) (*Console, error) {
	switch {
	case deps.API == nil, deps.Authenticate == nil, deps.Pool == nil, deps.Logger == nil:
		return nil, errors.New("console: Deps.API, Authenticate, Pool and Logger are required")
	case deps.SessionTTL < 0:
		return nil, errors.New("console: Deps.SessionTTL must not be negative")
	}
	if deps.SessionTTL == 0 {
		deps.SessionTTL = DefaultSessionTTL
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		deps:     deps,
		sessions: &sessions{pool: deps.Pool, ttl: deps.SessionTTL},
		http:     &http.Client{Transport: inProcess{api: deps.API, limit: maxAPIAnswerBytes}},
		pages:    pages,
		mux:      http.NewServeMux(),
	}
	c.routes()
	return c, nil
}

// ServeHTTP serves every page under /console with the headers each needs:
// a content security policy that admits only the console's own scripts and
// styles, no framing, no caching of pages that show account data.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, MountPath+"/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFiles, "static")
	m.Handle("GET "+MountPath+"/static/", http.StripPrefix(MountPath+"/static/", http.FileServerFS(static)))

	m.HandleFunc("GET "+MountPath, c.home)
	m.HandleFunc("GET "+MountPath+"/{$}", c.home)
	m.HandleFunc("GET "+MountPath+"/sign-in", c.signInForm)
	m.HandleFunc("POST "+MountPath+"/sign-in", c.signIn)
	m.HandleFunc("POST "+MountPath+"/sign-out", c.signedIn(c.signOut))
	m.HandleFunc("GET "+MountPath+"/accounts", c.signedIn(c.pickAccount))

	a := MountPath + "/a/{account}"
	m.HandleFunc("GET "+a, c.signedIn(func(rq *request) { rq.redirect("webhooks") }))
	m.HandleFunc("GET "+a+"/webhooks", c.signedIn(c.listHooks))
	m.HandleFunc("POST "+a+"/webhooks/re-enable", c.signedIn(c.reenableHooks))
	m.HandleFunc("GET "+a+"/new-webhook/{kind}", c.signedIn(c.newHookForm))
	m.HandleFunc("POST "+a+"/new-webhook/{kind}", c.signedIn(c.createHook))
	m.HandleFunc("GET "+a+"/webhooks/{hook}", c.signedIn(c.hookDetail))
	m.HandleFunc("GET "+a+"/webhooks/{hook}/edit", c.signedIn(c.editHookForm))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/edit", c.signedIn(c.editHook))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/enable", c.signedIn(c.setHookEnabled(true)))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/disable", c.signedIn(c.setHookEnabled(false)))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/delete", c.signedIn(c.deleteHook))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/secret", c.signedIn(c.rotateSecret))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/reveal-secret", c.signedIn(c.revealSecret))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/test", c.signedIn(c.testHook))
	m.HandleFunc("POST "+a+"/webhooks/{hook}/recover", c.signedIn(c.recoverHook))
	m.HandleFunc("GET "+a+"/deliveries", c.signedIn(c.deliveries))
	m.HandleFunc("POST "+a+"/deliveries/{delivery}/resend", c.signedIn(c.resendDelivery))
	m.HandleFunc("GET "+a+"/timeline", c.signedIn(c.callTimeline))
	m.HandleFunc("GET "+a+"/live", c.signedIn(c.liveTail))
	m.HandleFunc("GET "+a+"/live/stream", c.signedIn(c.liveStream))
	m.HandleFunc("GET "+a+"/simulate", c.signedIn(c.simulateForm))
	m.HandleFunc("POST "+a+"/simulate", c.signedIn(c.simulate))
	m.HandleFunc("GET "+a+"/dead-letters", c.signedIn(c.deadLetters))
	m.HandleFunc("GET "+a+"/settings", c.signedIn(c.settingsForm))
	m.HandleFunc("POST "+a+"/settings", c.signedIn(c.saveSettings))
	m.HandleFunc("GET "+a+"/tokens", c.signedIn(c.listTokens))
	m.HandleFunc("POST "+a+"/tokens", c.signedIn(c.createToken))
	m.HandleFunc("POST "+a+"/tokens/{token}/revoke", c.signedIn(c.revokeToken))

	m.HandleFunc(MountPath+"/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no console page at this address.")
	})
}

// request is one signed-in request: the session and an API client acting
// with its token.
type request struct {
	c    *Console
	w    http.ResponseWriter
	r    *http.Request
	sess session
	api  *client
	// account is the {account} of the path ("" outside account pages).
	account string
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// signedIn runs h for a live session; without one a page read goes to the
// sign-in form and a form post is refused. Every POST must carry the
// session's CSRF token (SameSite=Strict already keeps other sites' forms
// from sending the cookie; the token is the second lock).
func (c *Console) signedIn(h func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie(sessionCookie)
		var sess session
		if err == nil {
			sess, err = c.sessions.lookup(r.Context(), cookie.Value)
		}
		if err != nil {
			if !errors.Is(err, errNoSession) && !errors.Is(err, http.ErrNoCookie) {
				c.renderError(w, r, nil, http.StatusServiceUnavailable, "Sessions are unavailable right now; try again shortly.")
				c.deps.Logger.ErrorContext(r.Context(), "console session lookup", "error", err.Error())
				return
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, MountPath+"/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.renderError(w, r, nil, http.StatusUnauthorized, "Your session has ended; sign in again.")
			return
		}
		if r.Method != http.MethodGet {
			if err := r.ParseForm(); err != nil {
				c.renderError(w, r, &sess, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !sameSecret(r.PostForm.Get(csrfField), sess.csrf) {
				c.renderError(w, r, &sess, http.StatusForbidden,
					"This form was refused: it did not carry this session's CSRF token. Reload the page and try again.")
				return
			}
		}
		rq := &request{c: c, w: w, r: r, sess: sess, account: r.PathValue("account"),
			api: &client{http: c.http, token: sess.token, remoteAddr: r.RemoteAddr}}
		h(rq)
	}
}

// home sends a user to their account (or the admin to the account picker).
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	c.signedIn(func(rq *request) {
		if rq.sess.admin {
			http.Redirect(w, r, MountPath+"/accounts", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, accountURL(rq.sess.accountID, "webhooks"), http.StatusSeeOther)
	})(w, r)
}

// pickAccount lets the admin open any account by id.
func (c *Console) pickAccount(rq *request) {
	if id := strings.TrimSpace(rq.r.URL.Query().Get("account_id")); id != "" {
		http.Redirect(rq.w, rq.r, accountURL(id, "webhooks"), http.StatusSeeOther)
		return
	}
	if !rq.sess.admin {
		http.Redirect(rq.w, rq.r, accountURL(rq.sess.accountID, "webhooks"), http.StatusSeeOther)
		return
	}
	rq.render(http.StatusOK, "accounts", "Choose an account", nil)
}

// accountURL is the console address of an account page.
func accountURL(accountID string, rest ...string) string {
	u := MountPath + "/a/" + url.PathEscape(accountID)
	for _, r := range rest {
		u += "/" + r
	}
	return u
}

// redirect answers 303 to an account page, with an optional notice.
func (rq *request) redirect(rest string, notice ...string) {
	u := accountURL(rq.account, rest)
	if len(notice) > 0 {
		sep := "?"
		if strings.Contains(rest, "?") {
			sep = "&"
		}
		u += sep + "notice=" + url.QueryEscape(notice[0])
	}
	http.Redirect(rq.w, rq.r, u, http.StatusSeeOther)
}

// fail renders an API error as a page: 401 ends the session (the token was
// revoked), 403 and 404 keep their status, the rest say what the API said.
func (rq *request) fail(err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		rq.c.deps.Logger.ErrorContext(rq.ctx(), "console API call", "error", err.Error())
		rq.c.renderError(rq.w, rq.r, &rq.sess, http.StatusInternalServerError, "Something went wrong; try again.")
		return
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		if cookie, cerr := rq.r.Cookie(sessionCookie); cerr == nil {
			_ = rq.c.sessions.remove(rq.ctx(), cookie.Value)
		}
		setCookie(rq.w, rq.r, sessionCookie, "", 0)
		rq.c.renderError(rq.w, rq.r, nil, http.StatusUnauthorized, "Your token is no longer accepted: "+ae.Message+". Sign in again.")
	case http.StatusForbidden:
		rq.c.renderError(rq.w, rq.r, &rq.sess, http.StatusForbidden, "You may not open this: "+ae.Message)
	default:
		rq.c.renderError(rq.w, rq.r, &rq.sess, ae.Status, ae.Message)
	}
}

// view is what every template gets.
type view struct {
	Title     string
	Signed    bool
	Admin     bool
	Account   string
	CSRF      string
	Nav       string
	Notice    string
	Data      any
	Status    int
	Message   string
	MountPath string
}

func (rq *request) render(status int, name, title string, data any) {
	v := view{Title: title, Signed: true, Admin: rq.sess.admin, Account: rq.account, CSRF: rq.sess.csrf,
		Nav: name, Notice: rq.r.URL.Query().Get("notice"), Data: data, MountPath: MountPath}
	rq.c.write(rq.w, status, name, v)
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, sess *session, status int, message string) {
	v := view{Title: http.StatusText(status), Status: status, Message: message, MountPath: MountPath,
		Account: r.PathValue("account")}
	if sess != nil {
		v.Signed, v.Admin, v.CSRF = true, sess.admin, sess.csrf
		if !sess.admin {
			// An account token's navigation always leads to its own
			// account, also from a page of another it was refused.
			v.Account = sess.accountID
		}
	}
	c.write(w, status, "error", v)
}

func (c *Console) write(w http.ResponseWriter, status int, name string, v view) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no such page template: "+name, http.StatusInternalServerError)
		return
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.deps.Logger.Error("console template", "page", name, "error", err.Error())
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, buf.String())
}

// parsePages parses the layout with each page template.
func parsePages() (map[string]*template.Template, error) {
	entries, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, path := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, path)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", path, err)
		}
		pages[name] = t
	}
	return pages, nil
}
