package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// session is one signed-in browser.
type session struct {
	// token is the account or admin token the user signed in with; every
	// page calls the API with it, so the API's own rules decide.
	token     string
	admin     bool
	accountID string
	csrf      string
	expiresAt time.Time
}

const (
	sessionCookie = "pbxhooks_console"
	// preSessionCookie carries the sign-in form's CSRF value before any
	// session exists (a double-submit token).
	preSessionCookie = "pbxhooks_console_signin"
	csrfField        = "csrf_token"
	secretBytes      = 32
)

// errNoSession means the request has no live session: absent, unknown,
// expired or signed out.
var errNoSession = errors.New("no console session")

// sessions keeps sessions in PostgreSQL (console_sessions), so every API
// replica shares them and a sign-out ends a session on all of them.
type sessions struct {
	pool *pgxpool.Pool
	ttl  time.Duration
}

// create stores a new session and returns the cookie secret that names it.
func (s *sessions) create(ctx context.Context, sess session) (string, session, error) {
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(secret); err != nil {
		return "", session{}, err
	}
	sealed, err := seal(secret, sess.token)
	if err != nil {
		return "", session{}, err
	}
	sess.csrf = randomText(32)
	sess.expiresAt = time.Now().Add(s.ttl)
	digest := sha256.Sum256(secret)
	// Sign-ins are rare; each clears the expired rows so the table holds
	// only live sessions without a sweeper process.
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < now()`); err != nil {
		return "", session{}, fmt.Errorf("delete expired console sessions: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO console_sessions
		(secret_digest, sealed_token, admin, account_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		digest[:], sealed, sess.admin, sess.accountID, sess.csrf, sess.expiresAt)
	if err != nil {
		return "", session{}, fmt.Errorf("store console session: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(secret), sess, nil
}

// lookup finds the live session named by the cookie secret.
func (s *sessions) lookup(ctx context.Context, cookieValue string) (session, error) {
	secret, err := base64.RawURLEncoding.DecodeString(cookieValue)
	if err != nil || len(secret) != secretBytes {
		return session{}, errNoSession
	}
	digest := sha256.Sum256(secret)
	var sess session
	var sealed []byte
	err = s.pool.QueryRow(ctx, `SELECT sealed_token, admin, account_id, csrf_token, expires_at
		FROM console_sessions WHERE secret_digest = $1 AND expires_at > now()`, digest[:]).
		Scan(&sealed, &sess.admin, &sess.accountID, &sess.csrf, &sess.expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, fmt.Errorf("look up console session: %w", err)
	}
	if sess.token, err = open(secret, sealed); err != nil {
		return session{}, errNoSession
	}
	return sess, nil
}

// remove ends the session named by the cookie secret (sign-out).
func (s *sessions) remove(ctx context.Context, cookieValue string) error {
	secret, err := base64.RawURLEncoding.DecodeString(cookieValue)
	if err != nil || len(secret) != secretBytes {
		return nil
	}
	digest := sha256.Sum256(secret)
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE secret_digest = $1`, digest[:]); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}

// sessionAEAD is AES-256-GCM under a key derived from the cookie secret,
// which the database never sees.
func sessionAEAD(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "pbxhooks console session token", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(secret []byte, token string) ([]byte, error) {
	aead, err := sessionAEAD(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(token), nil), nil
}

func open(secret, sealed []byte) (string, error) {
	aead, err := sessionAEAD(secret)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed token too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	return string(plain), err
}

func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameSecret compares a submitted CSRF token in constant time.
func sameSecret(submitted, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(submitted), []byte(want)) == 1
}

// secureRequest reports whether the browser reached us over TLS, directly
// or through a proxy that says so; cookies are then marked Secure. A
// client forging X-Forwarded-Proto only makes its own cookie stricter.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: MountPath,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r),
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}
