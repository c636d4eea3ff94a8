package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// FuzzUploadForm sends arbitrary bytes as an upload's multipart body and
// a batch's body: each answer is 202 or the error envelope with a 4xx (a
// 5xx is a bug: the store is up), and a refused upload leaves no object
// behind. Each input goes through a real JetStream, so minimizing is slow:
// go test -fuzz=FuzzUploadForm -fuzzminimizetime=1x.
func FuzzUploadForm(f *testing.F) {
	f.Add([]byte(uploadHead + "RIFF....WAVE" + uploadTail))
	f.Add([]byte(uploadHead + "x\r\n--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ny" + uploadTail))
	f.Add([]byte("--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nfax" + uploadTail))
	f.Add([]byte("--" + testBoundary + "\r\n\r\n"))
	f.Add([]byte(uploadHead + "the form ends inside the file"))
	f.Add([]byte(`[{"event":"channel_create","id":"a","call_id":"c"}, 1]`))
	_, nc, js := testenv.JetStream(f)
	s := newIntake(f, nc, js, testLimits)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(objectNames(t, js))
		for _, route := range []struct{ path, contentType string }{
			{"/v1/accounts/acct1/media", "multipart/form-data; boundary=" + testBoundary},
			{"/v1/accounts/acct1/events", "application/json"},
		} {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, route.path, bytes.NewReader(body))
			req.Header.Set("Content-Type", route.contentType)
			req.Header.Set("X-Auth-Token", testAdminToken)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code == http.StatusAccepted {
				continue
			}
			var env map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env["status"] != "error" || rec.Code >= 500 {
				t.Fatalf("%s answered %d %s", route.path, rec.Code, rec.Body)
			}
			if route.path == "/v1/accounts/acct1/media" {
				if after := len(objectNames(t, js)); after != before {
					t.Fatalf("a refused upload (%d %s) left an object", rec.Code, rec.Body)
				}
			}
		}
	})
}
