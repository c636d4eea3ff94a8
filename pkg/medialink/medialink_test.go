package medialink

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

var (
	issued = time.Date(2024, 7, 19, 12, 0, 0, 0, time.UTC)
	oldKey = mustKey("k2023", "an-old-secret-of-at-least-32-bytes-....")
	newKey = mustKey("k2024", "the-new-secret-of-at-least-32-bytes-...")
)

func mustKey(id, secret string) Key {
	k, err := NewKey(id, []byte(secret))
	if err != nil {
		panic(err)
	}
	return k
}

// link signs a link as the matcher would and returns its parts.
func link(t *testing.T, keys []Key, mediaID, accountID string) (path string, q url.Values) {
	t.Helper()
	l := &Linker{BaseURL: "https://hooks.example.com/", Keys: keys, TTL: 24 * time.Hour, Now: func() time.Time { return issued }}
	raw, err := l.Link(mediaID, accountID)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("link %q is not a URL: %v", raw, err)
	}
	if u.Scheme != "https" || u.Host != "hooks.example.com" || !strings.HasPrefix(u.Path, PathPrefix) {
		t.Fatalf("link %q is not under the public base URL", raw)
	}
	return u.Path, u.Query()
}

func TestLinkShape(t *testing.T) {
	t.Parallel()
	path, q := link(t, []Key{newKey}, "vm-1", "acct1")
	if path != "/v1/media/vm-1" {
		t.Errorf("path = %q", path)
	}
	if q.Get(ParamAccount) != "acct1" || q.Get(ParamExpires) != fmt.Sprint(issued.Add(24*time.Hour).Unix()) {
		t.Errorf("query = %v", q)
	}
	if !strings.HasPrefix(q.Get(ParamSignature), "k2024.") {
		t.Errorf("signature %q does not name the signing key", q.Get(ParamSignature))
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	_, good := link(t, []Key{newKey, oldKey}, "vm-1", "acct1")
	_, signedByOld := link(t, []Key{oldKey}, "vm-1", "acct1")
	_, otherMedia := link(t, []Key{newKey}, "vm-2", "acct1")
	_, otherAccount := link(t, []Key{newKey}, "vm-1", "acct2")
	expires := issued.Add(24 * time.Hour)

	with := func(q url.Values, key, value string) url.Values {
		c := url.Values{}
		for k, v := range q {
			c[k] = append([]string(nil), v...)
		}
		c.Set(key, value)
		return c
	}
	flipLast := func(sig string) string {
		last := sig[len(sig)-1]
		repl := byte('A')
		if last == 'A' {
			repl = 'B'
		}
		return sig[:len(sig)-1] + string(repl)
	}
	sig := good.Get(ParamSignature)
	// spareBits changes the last character's two unused low bits: the
	// decoded MAC is the same, the text is not the one that was signed.
	spareBits := func(sig string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, sig[len(sig)-1])
		return sig[:len(sig)-1] + string(alphabet[i^1])
	}
	twice := func(q url.Values, key string) url.Values {
		c := with(q, key, q.Get(key))
		c[key] = append(c[key], q.Get(key))
		return c
	}
	expiresText := fmt.Sprint(expires.Unix())

	tests := []struct {
		name    string
		keys    []Key
		mediaID string
		query   url.Values
		now     time.Time
		want    error
	}{
		{"valid", []Key{newKey, oldKey}, "vm-1", good, issued, nil},
		{"valid until the last second", []Key{newKey, oldKey}, "vm-1", good, expires, nil},
		{"expired", []Key{newKey, oldKey}, "vm-1", good, expires.Add(time.Second), ErrExpired},
		{"rotated: old key still verifies", []Key{newKey, oldKey}, "vm-1", signedByOld, issued.Add(23 * time.Hour), nil},
		{"retired key no longer verifies", []Key{newKey}, "vm-1", signedByOld, issued, ErrBadSignature},
		{"other media id", []Key{newKey}, "vm-2", good, issued, ErrBadSignature},
		{"link of other media used for this one", []Key{newKey}, "vm-1", otherMedia, issued, ErrBadSignature},
		{"link of other account", []Key{newKey}, "vm-1", with(good, ParamAccount, "acct2"), issued, ErrBadSignature},
		{"other account's link for the same media id", []Key{newKey}, "vm-1", with(otherAccount, ParamAccount, "acct1"), issued, ErrBadSignature},
		{"expiry extended", []Key{newKey}, "vm-1", with(good, ParamExpires, fmt.Sprint(expires.Unix()+3600)), expires.Add(time.Minute), ErrBadSignature},
		{"mac altered", []Key{newKey}, "vm-1", with(good, ParamSignature, flipLast(sig)), issued, ErrBadSignature},
		{"kid altered", []Key{newKey, oldKey}, "vm-1", with(good, ParamSignature, "k2023"+strings.TrimPrefix(sig, "k2024")), issued, ErrBadSignature},
		{"unknown kid", []Key{newKey}, "vm-1", with(good, ParamSignature, "nope"+strings.TrimPrefix(sig, "k2024")), issued, ErrBadSignature},
		{"mac truncated", []Key{newKey}, "vm-1", with(good, ParamSignature, sig[:len(sig)-4]), issued, ErrMalformed},
		{"no kid", []Key{newKey}, "vm-1", with(good, ParamSignature, strings.TrimPrefix(sig, "k2024.")), issued, ErrMalformed},
		{"no signature", []Key{newKey}, "vm-1", with(good, ParamSignature, ""), issued, ErrMalformed},
		{"expires not a number", []Key{newKey}, "vm-1", with(good, ParamExpires, "soon"), issued, ErrMalformed},
		{"no account", []Key{newKey}, "vm-1", with(good, ParamAccount, ""), issued, ErrMalformed},
		{"path traversal media id", []Key{newKey}, "../vm-1", good, issued, ErrMalformed},
		// Only the exact text that was signed verifies: no other encoding
		// of the same values.
		{"mac with altered spare bits", []Key{newKey}, "vm-1", with(good, ParamSignature, spareBits(sig)), issued, ErrMalformed},
		{"mac with a line break", []Key{newKey}, "vm-1", with(good, ParamSignature, sig[:20]+"\n"+sig[20:]), issued, ErrMalformed},
		{"mac padded", []Key{newKey}, "vm-1", with(good, ParamSignature, sig+"="), issued, ErrMalformed},
		{"expires with a plus sign", []Key{newKey}, "vm-1", with(good, ParamExpires, "+"+expiresText), issued, ErrMalformed},
		{"expires with leading zeros", []Key{newKey}, "vm-1", with(good, ParamExpires, "00"+expiresText), issued, ErrMalformed},
		{"expires negative zero", []Key{newKey}, "vm-1", with(good, ParamExpires, "-0"), issued, ErrMalformed},
		{"account given twice", []Key{newKey}, "vm-1", twice(good, ParamAccount), issued, ErrMalformed},
		{"signature given twice", []Key{newKey}, "vm-1", twice(good, ParamSignature), issued, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			account, err := VerifyQuery(tc.keys, tc.mediaID, tc.query, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyQuery = %v, want %v", err, tc.want)
			}
			if tc.want == nil && account != tc.query.Get(ParamAccount) {
				t.Fatalf("account = %q, want %q", account, tc.query.Get(ParamAccount))
			}
		})
	}
}

func TestSignRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := Sign(nil, "vm-1", "acct1", issued); err == nil {
		t.Error("signed without a key")
	}
	if _, err := Sign([]Key{newKey}, "a/b", "acct1", issued); err == nil {
		t.Error("signed a media id with a slash")
	}
	if _, err := Sign([]Key{newKey}, "vm-1", "acct.1", issued); err == nil {
		t.Error("signed an invalid account id")
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", MinSecretBytes)
	keys, err := ParseKeys(" new:" + secret + " , old:" + secret + "x,")
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	if len(keys) != 2 || keys[0].ID != "new" || keys[1].ID != "old" {
		t.Fatalf("keys = %v, want new then old", keys)
	}
	if s := fmt.Sprintf("%v %+v %#v", keys[0], keys[0], keys[0]); strings.Contains(s, secret) {
		t.Fatalf("a key's secret shows in formatted output: %s", s)
	}
	for _, bad := range []string{"", ",", "nokid", "k:short", "bad kid:" + secret, "a:" + secret + ",a:" + secret} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	// No key, no start: never a silent fallback to a key anyone can read.
	e := config.FromMap(map[string]string{})
	c := ReadConfig(e)
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "MEDIA_LINK_KEYS: is required") || len(c.Keys) != 0 {
		t.Fatalf("unset MEDIA_LINK_KEYS: keys %v, error %v; want an error naming the variable", c.Keys, err)
	}

	e = config.FromMap(map[string]string{"MEDIA_LINK_KEYS": "k1:" + strings.Repeat("x", MinSecretBytes)})
	c = ReadConfig(e)
	if err := e.Err(); err != nil || len(c.Keys) != 1 || c.TTL != 24*time.Hour || c.PublicBaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults = %+v, err %v", c, err)
	}

	e = config.FromMap(map[string]string{
		"MEDIA_LINK_KEYS": "k1:" + strings.Repeat("x", MinSecretBytes), "MEDIA_LINK_TTL": "1h", "PUBLIC_BASE_URL": "https://hooks.example.com",
	})
	c = ReadConfig(e)
	if err := e.Err(); err != nil || c.Keys[0].ID != "k1" || c.TTL != time.Hour {
		t.Fatalf("configured = %+v, err %v", c, err)
	}

	e = config.FromMap(map[string]string{"MEDIA_LINK_KEYS": "k1:short", "MEDIA_LINK_TTL": "1s", "PUBLIC_BASE_URL": "ftp://x"})
	ReadConfig(e)
	err := e.Err()
	for _, name := range []string{"MEDIA_LINK_KEYS", "MEDIA_LINK_TTL", "PUBLIC_BASE_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("error echoes the secret: %v", err)
	}
}

// FuzzVerifyQuery: whatever a client puts in the link, verification never
// panics and never accepts a link that was not signed for exactly those
// fields.
func FuzzVerifyQuery(f *testing.F) {
	f.Add("vm-1", "account=acct1&expires=1721476800&signature=k2024.AAAA")
	f.Add("../x", "expires=-1&signature=.")
	f.Add("vm-1", "account=acct1&expires=99999999999999999999&signature=k2024."+strings.Repeat("A", 43))
	keys := []Key{newKey}
	f.Fuzz(func(t *testing.T, mediaID, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		account, err := VerifyQuery(keys, mediaID, q, issued)
		if err != nil {
			return
		}
		expires := mustInt(t, q.Get(ParamExpires))
		want, signErr := Sign(keys, mediaID, account, time.Unix(expires, 0))
		if signErr != nil || want != q.Get(ParamSignature) || fmt.Sprint(expires) != q.Get(ParamExpires) {
			t.Fatalf("accepted a link it did not sign: media %q query %q", mediaID, rawQuery)
		}
	})
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("accepted expires %q: %v", s, err)
	}
	return n
}

func TestNewKeySpec(t *testing.T) {
	t.Parallel()
	a, err := NewKeySpec("dev")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKeySpec("dev")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseKeys(a)
	if err != nil || len(keys) != 1 || keys[0].ID != "dev" || len(keys[0].secret) < MinSecretBytes || a == b {
		t.Fatalf("NewKeySpec = %q, %q (%v): want two different valid keys", a, b, err)
	}
}

func TestCheckMediaTTLRefusesLinksThatOutliveTheirMedia(t *testing.T) {
	t.Parallel()
	c := Config{TTL: 48 * time.Hour}
	err := c.CheckMediaTTL(24 * time.Hour)
	if err == nil || !strings.Contains(err.Error(), "MEDIA_LINK_TTL (48h0m0s)") || !strings.Contains(err.Error(), "INGEST_MEDIA_TTL (24h0m0s)") {
		t.Fatalf("link TTL over the media TTL: %v, want an error naming both variables and values", err)
	}
	for _, mediaTTL := range []time.Duration{48 * time.Hour, 7 * 24 * time.Hour, 0} {
		if err := c.CheckMediaTTL(mediaTTL); err != nil {
			t.Fatalf("link TTL 48h with media TTL %s: %v", mediaTTL, err)
		}
	}
}
