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
