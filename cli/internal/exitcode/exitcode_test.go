package exitcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestFromResponseMapsStatusToCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   int
	}{
		{http.StatusBadRequest, Rejected},
		{http.StatusUnauthorized, Auth},
		{http.StatusForbidden, Auth},
		{http.StatusNotFound, NotFound},
		{http.StatusConflict, Rejected},
		{http.StatusRequestEntityTooLarge, Rejected},
		{http.StatusTooManyRequests, Auth},
		{http.StatusInternalServerError, Failure},
		{http.StatusServiceUnavailable, Failure},
	}
	for _, tt := range tests {
		err := FromResponse("get webhook", tt.status, []byte(`{"status":"error","error":"x","message":"m"}`))
		if got := Of(err); got != tt.want {
			t.Errorf("HTTP %d: exit %d, want %d", tt.status, got, tt.want)
		}
	}
}

func TestFromResponseKeepsEnvelopeMessageAndFields(t *testing.T) {
	t.Parallel()
	body := `{"status":"error","error":"400","message":"invalid webhook","data":{"uri":{"format":{"message":"must be an absolute http(s) URL"}},"hook":{"enum":{"message":"unknown hook"}}}}`
	err := FromResponse("create webhook", 400, []byte(body))
	msg := err.Error()
	for _, want := range []string{"create webhook: invalid webhook (HTTP 400)", "  hook: unknown hook", "  uri: must be an absolute http(s) URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Index(msg, "hook:") > strings.Index(msg, "uri:") {
		t.Errorf("field lines are not sorted: %q", msg)
	}
	doc := ToJSON(err)
	if doc.Error.Kind != "rejected" || doc.Error.ExitCode != Rejected || doc.Error.Status != 400 {
		t.Errorf("JSON error %+v", doc.Error)
	}
	var data map[string]any
	if json.Unmarshal(doc.Error.Data, &data) != nil || data["uri"] == nil {
		t.Errorf("JSON error data %s lacks the field errors", doc.Error.Data)
	}
}

func TestFromResponseWithoutEnvelope(t *testing.T) {
	t.Parallel()
	err := FromResponse("list webhooks", 502, []byte("<html>bad gateway</html>"))
	if !strings.Contains(err.Error(), "bad gateway") || Of(err) != Failure {
		t.Errorf("got %q exit %d", err, Of(err))
	}
	err = FromResponse("list webhooks", 503, nil)
	if !strings.Contains(err.Error(), "Service Unavailable") {
		t.Errorf("got %q, want the status text", err)
	}
}

func TestTransportFailureIsUnreachable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: bind one, note it, close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, doErr := http.DefaultClient.Do(req)
	if doErr == nil {
		t.Fatal("request to a closed port succeeded")
	}
	if got := Of(doErr); got != Unreachable {
		t.Errorf("raw transport error: exit %d, want %d", got, Unreachable)
	}
	wrapped := Transport("API", "http://"+addr, doErr)
	if got := Of(wrapped); got != Unreachable {
		t.Errorf("wrapped: exit %d, want %d", got, Unreachable)
	}
	if !strings.Contains(wrapped.Error(), "API at http://"+addr+" unreachable") {
		t.Errorf("message %q does not name the service", wrapped)
	}
}

func TestCancelledIsNotUnreachable(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("list: %w", context.Canceled)
	if IsUnreachable(err) {
		t.Error("a cancelled context counts as unreachable")
	}
	if Transport("API", "http://x", err) != err {
		t.Error("Transport wrapped a cancellation")
	}
}

func TestOf(t *testing.T) {
	t.Parallel()
	if Of(nil) != OK {
		t.Error("Of(nil) is not OK")
	}
	if Of(errors.New("boom")) != Failure {
		t.Error("a plain error is not Failure")
	}
	if Of(fmt.Errorf("wrapped: %w", Usagef("bad"))) != Usage {
		t.Error("a wrapped usage error lost its code")
	}
	if Kind(NotFound) != "not_found" || Kind(99) != "failure" {
		t.Error("Kind names drifted")
	}
}
