package bus_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

func TestRelaySubjectNamesAccountAndHook(t *testing.T) {
	got, err := bus.RelaySubject("acme", "0123456789abcdef0123456789abcdef")
	if err != nil || got != "relay.acme.0123456789abcdef0123456789abcdef" {
		t.Fatalf("RelaySubject = %q, %v", got, err)
	}
	for _, bad := range [][2]string{{"ac.me", "h"}, {"acme", "h.>"}, {"", "h"}, {"acme", "*"}} {
		if s, err := bus.RelaySubject(bad[0], bad[1]); err == nil {
			t.Errorf("RelaySubject(%q, %q) = %q, want an error", bad[0], bad[1], s)
		}
	}
}

func TestRelayResponseBounds(t *testing.T) {
	tests := []struct {
		name string
		resp bus.RelayResponse
		ok   bool
	}{
		{"status", bus.RelayResponse{Status: 200, Body: []byte("ok")}, true},
		{"error", bus.RelayResponse{Error: "connection refused"}, true},
		{"neither", bus.RelayResponse{}, false},
		{"both", bus.RelayResponse{Status: 200, Error: "x"}, false},
		{"status too high", bus.RelayResponse{Status: 600}, false},
		{"status too low", bus.RelayResponse{Status: 99}, false},
		{"body too long", bus.RelayResponse{Status: 200, Body: make([]byte, bus.MaxRelayResponseBody+1)}, false},
		{"headers too long", bus.RelayResponse{Status: 200, Header: http.Header{"X": {strings.Repeat("a", bus.MaxRelayResponseHeaderBytes)}}}, false},
		{"error too long", bus.RelayResponse{Error: strings.Repeat("e", bus.MaxRelayErrorBytes+1)}, false},
	}
	for _, tt := range tests {
		data, err := json.Marshal(tt.resp)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bus.DecodeRelayResponse(data)
		if (err == nil) != tt.ok {
			t.Errorf("%s: DecodeRelayResponse error %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func FuzzDecodeRelayResponse(f *testing.F) {
	f.Add([]byte(`{"status":200,"header":{"A":["b"]},"body":"aGk="}`))
	f.Add([]byte(`{"error":"refused"}`))
	f.Add([]byte(`{"status":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := bus.DecodeRelayResponse(data)
		if err != nil {
			return
		}
		if r.Validate() != nil {
			t.Fatalf("decoded a response that does not validate: %+v", r)
		}
		if len(r.Body) > bus.MaxRelayResponseBody {
			t.Fatalf("body of %d bytes accepted", len(r.Body))
		}
	})
}
