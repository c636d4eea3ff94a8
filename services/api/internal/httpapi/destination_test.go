package httpapi_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// TestHookURLsNamingBlockedAddressesAreRefused: a literal address the
// deliverer would refuse to dial is refused at creation and on edit, with
// the uri named; the allow list (DELIVERY_ALLOW_CIDRS) lifts the refusal.
func TestHookURLsNamingBlockedAddressesAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const hooks = "/v1/accounts/acct1/webhooks"
	for _, uri := range []string{
		"http://169.254.169.254/latest/meta-data",
		"http://127.0.0.1:9000/x",
		"http://[::1]/x",
		"http://10.0.0.7/x",
		"http://[::ffff:192.168.1.1]/x",
		"http://localhost:8080/x",
	} {
		body := `{"data":{"name":"n","uri":"` + uri + `","hook":"all"}}`
		h.do(t, http.MethodPut, hooks, adminToken, body).expectError(t, http.StatusBadRequest, "uri", "destination")
	}
	created := h.createHook(t, "acct1", `{"data":{"name":"n","uri":"https://example.com/x","hook":"all"}}`)
	id, _ := created["id"].(string)
	h.do(t, http.MethodPatch, hooks+"/"+id, adminToken, `{"data":{"uri":"http://192.168.0.10/x"}}`).
		expectError(t, http.StatusBadRequest, "uri", "destination")

	allowLoopback := newHarness(t, func(d *httpapi.Deps) {
		d.Destinations = netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	})
	allowLoopback.do(t, http.MethodPut, hooks, adminToken,
		`{"data":{"name":"n","uri":"http://127.0.0.1:9000/x","hook":"all"}}`).expect(t, http.StatusCreated)
	allowLoopback.do(t, http.MethodPut, hooks, adminToken,
		`{"data":{"name":"n","uri":"http://169.254.169.254/x","hook":"all"}}`).expectError(t, http.StatusBadRequest, "uri", "destination")
}

// TestHookURLsSpellingBlockedAddressesOddlyAreRefused: the spellings a
// resolver turns into a blocked address are refused like the canonical
// form; a host that ends in a number but is no address is refused as
// malformed, so it never reaches DNS.
func TestHookURLsSpellingBlockedAddressesOddlyAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const hooks = "/v1/accounts/acct1/webhooks"
	for _, host := range []string{
		"10.1", "167772161", "0xa000001", "012.0.0.1", "0x0a.0.0.1", "10.0.0.1.",
		"169.254.43518", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "[::ffff:a00:1]", "１０.０.０.１",
	} {
		body := `{"data":{"name":"n","uri":"http://` + host + `/x","hook":"all"}}`
		h.do(t, http.MethodPut, hooks, adminToken, body).expectError(t, http.StatusBadRequest, "uri", "destination")
	}
	for _, host := range []string{"10.0.0.256", "1.2.3.4.5", "999999999999", "example.0x1", "09.1.1.1"} {
		body := `{"data":{"name":"n","uri":"http://` + host + `/x","hook":"all"}}`
		h.do(t, http.MethodPut, hooks, adminToken, body).expectError(t, http.StatusBadRequest, "uri", "format")
	}
	// The same spellings of a public address are fine.
	h.createHook(t, "acct1", `{"data":{"name":"n","uri":"http://0x08080808/x","hook":"all"}}`)
}
