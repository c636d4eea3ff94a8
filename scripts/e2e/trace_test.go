package e2e

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// otlpReceiver is an OTLP/HTTP trace endpoint (POST /v1/traces, protobuf)
// that keeps every span it is sent, with the service that sent it.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, "want POST /v1/traces", http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		service := stringAttr(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				o.spans = append(o.spans, receivedSpan{service: service, span: s})
			}
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans of one trace.
func (o *otlpReceiver) trace(traceID []byte) []receivedSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []receivedSpan
	for _, s := range o.spans {
		if string(s.span.GetTraceId()) == string(traceID) {
			out = append(out, s)
		}
	}
	return out
}

func stringAttr(attrs []*commonpb.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func intAttr(attrs []*commonpb.KeyValue, key string) (int64, bool) {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetIntValue(), true
		}
	}
	return 0, false
}

// TestTraceFromPBXToCallback sends an event with a W3C traceparent to
// ingest and follows it: the callback carries the same trace, and ingest,
// matcher and deliverer export spans that chain from the PBX's span to the
// callback request, with the OpenTelemetry messaging and HTTP attributes.
func TestTraceFromPBXToCallback(t *testing.T) {
	collector := &otlpReceiver{}
	otlp := httptest.NewServer(collector)
	// Closed after the services stop (cleanups run last-registered first),
	// so their final flush on shutdown still finds it.
	t.Cleanup(otlp.Close)
	st := teststack.Start(t, teststack.Options{Env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL,
		// Export each span within 100 ms instead of the default 5 s.
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()

	const account = "acct-trace"
	st.CreateHook(t, account, apiclient.HookDocument{
		Name: "traced", Uri: target.URL + "/hook", HttpVerb: new(apiclient.HTTPVerbPost), Hook: apiclient.HookKindChannelCreate,
		Format: new(apiclient.PayloadFormatJson),
	})

	const (
		traceIDHex   = "4bf92f3577b34da6a3ce929d0e0e4736"
		pbxSpanIDHex = "00f067aa0ba902b7"
	)
	traceID, _ := hex.DecodeString(traceIDHex)
	pbxSpanID, _ := hex.DecodeString(pbxSpanIDHex)
	status := teststack.Call(t, http.MethodPost, st.URL("ingest")+"/v1/accounts/"+account+"/events",
		`{"event":"channel_create","id":"trace-evt-1","call_id":"c1","direction":"inbound","from":"+15550001111","to":"5010"}`,
		http.Header{"Traceparent": {"00-" + traceIDHex + "-" + pbxSpanIDHex + "-01"}, "X-Auth-Token": {st.Cfg.AdminToken}}, nil)
	if status != http.StatusAccepted {
		t.Fatalf("POST event: %d", status)
	}

	var calls []teststack.Callback
	testenv.Eventually(t, 30*time.Second, "the callback", func() bool {
		calls = recv.Calls()
		return len(calls) > 0
	})
	callbackParent := calls[0].Header.Get("Traceparent")
	parts := strings.Split(callbackParent, "-")
	if len(parts) != 4 || parts[1] != traceIDHex {
		t.Fatalf("callback traceparent %q, want trace %s", callbackParent, traceIDHex)
	}

	// The chain, each span the parent of the next; the last is the
	// callback request, whose span id the receiver got as its parent.
	want := []struct {
		service, name string
		kind          tracepb.Span_SpanKind
	}{
		{"ingest", "POST /v1/accounts/{account_id}/events", tracepb.Span_SPAN_KIND_SERVER},
		{"ingest", "events publish", tracepb.Span_SPAN_KIND_PRODUCER},
		{"matcher", "matcher process", tracepb.Span_SPAN_KIND_CONSUMER},
		{"matcher", "deliveries publish", tracepb.Span_SPAN_KIND_PRODUCER},
		{"deliverer", "deliverer process", tracepb.Span_SPAN_KIND_CONSUMER},
		{"deliverer", "POST", tracepb.Span_SPAN_KIND_CLIENT},
	}
	find := func(spans []receivedSpan, service, name string) *tracepb.Span {
		for _, s := range spans {
			if s.service == service && s.span.GetName() == name {
				return s.span
			}
		}
		return nil
	}
	var spans []receivedSpan
	testenv.Eventually(t, 20*time.Second, "every span of the trace", func() bool {
		spans = collector.trace(traceID)
		for _, w := range want {
			if find(spans, w.service, w.name) == nil {
				return false
			}
		}
		return true
	})
	parent := pbxSpanID
	for _, w := range want {
		s := find(spans, w.service, w.name)
		if s.GetKind() != w.kind {
			t.Errorf("%s %q: kind %v, want %v", w.service, w.name, s.GetKind(), w.kind)
		}
		if string(s.GetParentSpanId()) != string(parent) {
			t.Errorf("%s %q: parent %x, want %x", w.service, w.name, s.GetParentSpanId(), parent)
		}
		parent = s.GetSpanId()
	}
	if got := parts[2]; got != hex.EncodeToString(parent) {
		t.Errorf("callback traceparent parent id %s, want the client span %x", got, parent)
	}

	// Semantic-convention attributes.
	for _, w := range want[1:5] {
		attrs := find(spans, w.service, w.name).GetAttributes()
		if got := stringAttr(attrs, "messaging.system"); got != "nats" {
			t.Errorf("%s %q: messaging.system %q, want nats", w.service, w.name, got)
		}
		dest := stringAttr(attrs, "messaging.destination.name")
		if !strings.HasPrefix(dest, map[bool]string{true: "events.", false: "deliveries."}[w.service == "ingest" || w.name == "matcher process"]) {
			t.Errorf("%s %q: messaging.destination.name %q", w.service, w.name, dest)
		}
	}
	client := find(spans, "deliverer", "POST").GetAttributes()
	host, port, _ := strings.Cut(strings.TrimPrefix(target.URL, "http://"), ":")
	for key, want := range map[string]string{"http.request.method": "POST", "server.address": host, "url.full": target.URL + "/hook"} {
		if got := stringAttr(client, key); got != want {
			t.Errorf("client span %s = %q, want %q", key, got, want)
		}
	}
	if got, _ := intAttr(client, "http.response.status_code"); got != http.StatusOK {
		t.Errorf("client span http.response.status_code = %d, want 200", got)
	}
	if got, _ := intAttr(client, "server.port"); fmt.Sprint(got) != port {
		t.Errorf("client span server.port = %d, want %s", got, port)
	}
}
