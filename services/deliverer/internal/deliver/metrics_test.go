package deliver

import (
	"errors"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pbxhooks/pbxhooks/pkg/netguard"
)

func TestStatusClass(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		200: ClassSuccess, 204: ClassSuccess, 301: ClassRedirect, 400: ClassClientError, 404: ClassClientError,
		408: ClassClientError, 410: ClassGone, 429: ClassThrottled, 500: ClassServerError, 503: ClassServerError,
		101: ClassOtherStatus, 999: ClassOtherStatus,
	} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", code, got, want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportFailure(t *testing.T) {
	t.Parallel()
	var _ net.Error = timeoutErr{}
	for _, c := range []struct {
		err          error
		want, reason string
	}{
		{&netguard.RefusedError{}, ClassRefused, (&netguard.RefusedError{}).Error()},
		{timeoutErr{}, ClassTimeout, "timeout"},
		{errors.New("connection refused"), ClassConnection, "connection error"},
	} {
		if class, reason := transportFailure(c.err); class != c.want || reason != c.reason {
			t.Errorf("transportFailure(%v) = %q, %q; want %q, %q", c.err, class, reason, c.want, c.reason)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	d := New(Deps{})
	for _, c := range d.Collectors() {
		problems, err := testutil.CollectAndLint(c)
		if err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %v", err, problems)
		}
	}
}
