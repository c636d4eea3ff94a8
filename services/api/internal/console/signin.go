package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
)

const maxTokenLength = 512

// signInForm shows the token form. The form's CSRF value is also set in a
// short-lived cookie; the post must carry both (no session exists yet).
func (c *Console) signInForm(w http.ResponseWriter, r *http.Request) {
	c.showSignIn(w, r, http.StatusOK, "")
}

func (c *Console) showSignIn(w http.ResponseWriter, r *http.Request, status int, problem string) {
	value := randomText(32)
	http.SetCookie(w, &http.Cookie{Name: preSessionCookie, Value: value, Path: MountPath + "/sign-in",
		MaxAge: 900, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	v := view{Title: "Sign in", CSRF: value, Message: problem, MountPath: MountPath, Nav: "sign-in",
		Data: safeNext(r.FormValue("next"))}
	c.write(w, status, "signin", v)
}

// signIn checks the token as the API would (pkg/credential: the admin
// token, or an active account token with the "api" scope), then stores a
// session and sets its cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.showSignIn(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	pre, err := r.Cookie(preSessionCookie)
	if err != nil || !sameSecret(r.PostForm.Get(csrfField), pre.Value) {
		c.renderError(w, r, nil, http.StatusForbidden,
			"This sign-in form was refused: it did not carry its CSRF token. Open the sign-in page again.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" || len(token) > maxTokenLength {
		c.showSignIn(w, r, http.StatusBadRequest, "Enter an account token or the admin token.")
		return
	}
	check := r.Clone(r.Context())
	check.Header = http.Header{"Authorization": {"Bearer " + token}}
	principal, err := c.deps.Authenticate(check)
	if err == nil && !principal.Admin {
		err = principal.MayManage(principal.AccountID)
	}
	if err != nil {
		var refusal *credential.Refusal
		if errors.As(err, &refusal) {
			c.showSignIn(w, r, refusal.Status, "That token was refused: "+refusal.Message)
			return
		}
		c.deps.Logger.ErrorContext(r.Context(), "console sign-in", "error", err.Error())
		c.showSignIn(w, r, http.StatusServiceUnavailable, "Sign-in is unavailable right now; try again shortly.")
		return
	}
	secret, sess, err := c.sessions.create(r.Context(), session{token: token, admin: principal.Admin, accountID: principal.AccountID})
	if err != nil {
		c.deps.Logger.ErrorContext(r.Context(), "console sign-in", "error", err.Error())
		c.showSignIn(w, r, http.StatusServiceUnavailable, "Sign-in is unavailable right now; try again shortly.")
		return
	}
	setCookie(w, r, sessionCookie, secret, c.sessions.ttl)
	http.SetCookie(w, &http.Cookie{Name: preSessionCookie, Path: MountPath + "/sign-in", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	next := safeNext(r.PostForm.Get("next"))
	if next == "" {
		next = MountPath
		if !sess.admin {
			next = accountURL(sess.accountID, "webhooks")
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut deletes the session server-side, so the cookie is worthless even
// if it was copied.
func (c *Console) signOut(rq *request) {
	if cookie, err := rq.r.Cookie(sessionCookie); err == nil {
		if err := rq.c.sessions.remove(rq.ctx(), cookie.Value); err != nil {
			rq.fail(err)
			return
		}
	}
	setCookie(rq.w, rq.r, sessionCookie, "", 0)
	http.Redirect(rq.w, rq.r, MountPath+"/sign-in", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination only when it is a console
// path, so the sign-in form cannot be made to redirect elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, MountPath+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, MountPath+"/sign-") {
		return ""
	}
	return next
}
