package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	// One request per ~17 minutes after a burst of 2: the bucket cannot
	// refill during the test, however slow the machine.
	h := newHarness(t, func(d *httpapi.Deps) { d.RateLimit, d.RateBurst = 0.001, 2 })
	const tokenA, tokenB = "rate-token-a-xxxxxxxxxxxxxxxxxx", "rate-token-b-xxxxxxxxxxxxxxxxxx"
	h.accountToken(t, "acct_a", tokenA)
	h.accountToken(t, "acct_b", tokenB)
	const pathA = "/v1/accounts/acct_a/webhooks"

	// Requests without a valid token are refused before the limiter and
	// use up nothing.
	for range 3 {
		h.do(t, http.MethodGet, pathA, "wrong-token", "").expectError(t, http.StatusUnauthorized, "", "")
	}
	h.do(t, http.MethodGet, pathA, tokenA, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, pathA, tokenA, "").expect(t, http.StatusOK)
	limited := h.do(t, http.MethodGet, pathA, tokenA, "")
	limited.expectError(t, http.StatusTooManyRequests, "", "")
	retryAfter, err := strconv.Atoi(limited.header.Get("Retry-After"))
	if err != nil || retryAfter < 1 {
		t.Fatalf("Retry-After %q", limited.header.Get("Retry-After"))
	}
	// A refused request does not count: still limited, not further behind.
	again := h.do(t, http.MethodPut, pathA, tokenA, wirecloudBody)
	again.expectError(t, http.StatusTooManyRequests, "", "")
	if later, _ := strconv.Atoi(again.header.Get("Retry-After")); later > retryAfter+1 {
		t.Fatalf("Retry-After grew from %d to %d: refused requests used up tokens", retryAfter, later)
	}
	// Nothing was created by the limited PUT.
	if n := len(h.do(t, http.MethodGet, pathA, adminToken, "").expect(t, http.StatusOK).list(t)); n != 0 {
		t.Fatalf("%d hooks", n)
	}

	// Other tokens have their own buckets; public routes have none.
	h.do(t, http.MethodGet, "/v1/accounts/acct_b/webhooks", tokenB, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, pathA, adminToken, "").expect(t, http.StatusOK)
	for range 3 {
		h.do(t, http.MethodGet, "/v1/webhooks", "", "").expect(t, http.StatusOK)
	}
}
