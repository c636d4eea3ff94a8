package signature

import (
	"net/http"
	"testing"
)

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want http.Header
	}{
		{
			name: "curl -D lines with a status line",
			in:   "HTTP/1.1 200 OK\r\nWebhook-Id: e1:h1\r\nwebhook-timestamp: 1700000000\r\nWebhook-Signature: v1,abc v1,def\r\n\r\nbody",
			want: http.Header{"Webhook-Id": {"e1:h1"}, "Webhook-Timestamp": {"1700000000"}, "Webhook-Signature": {"v1,abc v1,def"}},
		},
		{
			name: "request line and repeated header",
			in:   "POST /hooks HTTP/1.1\nX-A: 1\nX-A: 2\n",
			want: http.Header{"X-A": {"1", "2"}},
		},
		{
			name: "JSON object as attempts show request.headers",
			in:   `{"webhook-id":"e1:h1","Webhook-Timestamp":["1700000000"],"X-Hook-ID":"h1"}`,
			want: http.Header{"Webhook-Id": {"e1:h1"}, "Webhook-Timestamp": {"1700000000"}, "X-Hook-Id": {"h1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseHeaders([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for name, values := range tt.want {
				if g := got.Values(name); len(g) != len(values) || (len(g) > 0 && g[len(g)-1] != values[len(values)-1]) {
					t.Errorf("%s: got %q, want %q", name, g, values)
				}
			}
		})
	}
}

func TestParseHeadersRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "   \n", "no colon here", "Bad Name: x", `{"a": 1}`, `{"a":`, ": empty name"} {
		if h, err := ParseHeaders([]byte(in)); err == nil {
			t.Errorf("%q parsed as %v", in, h)
		}
	}
}

func FuzzParseHeaders(f *testing.F) {
	f.Add([]byte("Webhook-Id: a\nWebhook-Timestamp: 1\n"))
	f.Add([]byte(`{"webhook-id":["a","b"]}`))
	f.Add([]byte("HTTP/1.1 200 OK\r\nA: b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeaders(data)
		if err != nil {
			return
		}
		for name := range h {
			if !validName(name) {
				t.Errorf("accepted header name %q", name)
			}
		}
	})
}
