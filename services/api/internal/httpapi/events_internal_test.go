package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzParseEventFilter: any query either parses into bounded filters or is
// refused with a 400 that names what is wrong; it never panics.
func FuzzParseEventFilter(f *testing.F) {
	for _, q := range []string{
		"", "call_id=c1&thread_id=t&number=%2B15550100&status=missed&kind=call",
		"since=2026-11-30T09:00:00Z&until=2026-11-30T10:00:00Z", "since=2026-11-30T09:00:00+01:00",
		"status=lost", "limit=0", "limit=5&page_size=6", "start_key=-1", "number=%00", "kind=",
	} {
		f.Add(q)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, rawQuery string) {
		if _, err := url.ParseQuery(rawQuery); err != nil {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/accounts/acme/events?"+rawQuery, nil)
		c := e.NewContext(req, httptest.NewRecorder())
		if _, err := parseEventPage(c); err != nil {
			expectBadRequest(t, err)
			return
		}
		filter, err := parseEventFilter(c)
		if err != nil {
			expectBadRequest(t, err)
			return
		}
		for _, ref := range []*string{filter.callID, filter.threadID, filter.number} {
			if ref != nil && (len(*ref) > maxEventRefBytes || strings.ContainsRune(*ref, 0)) {
				t.Fatalf("accepted %q", *ref)
			}
		}
		if filter.since != nil && filter.until != nil && !filter.until.After(*filter.since) {
			t.Fatalf("accepted until %s not after since %s", filter.until, filter.since)
		}
	})
}

func expectBadRequest(t *testing.T, err error) {
	t.Helper()
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Data.Empty() {
		t.Fatalf("refusal %v is not a 400 naming the field", err)
	}
}
