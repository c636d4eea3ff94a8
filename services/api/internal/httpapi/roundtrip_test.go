package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/relay"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/api/internal/openapi"
)

// specRecorder is the generated client's transport in the round-trip test:
// it checks every answer (status, headers, JSON body) against the document
// and records which operations answered with a 2xx, so that the test fails
// while an operation of the document is never exercised.
type specRecorder struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router

	mu        sync.Mutex
	succeeded map[string]bool // "METHOD /path/{template}"
}

func newSpecRecorder(t *testing.T) *specRecorder {
	t.Helper()
	doc := loadOpenAPI(t, openapi.Document())
	// The document's one server is "/", relative to wherever the API runs;
	// without servers the router matches on the path alone.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("route the document: %v", err)
	}
	return &specRecorder{t: t, doc: doc, router: router, succeeded: map[string]bool{}}
}

// client is a generated client whose requests go through the recorder,
// authenticated with token unless it is empty.
func (r *specRecorder) client(baseURL, token string) *apiclient.ClientWithResponses {
	r.t.Helper()
	options := []apiclient.ClientOption{apiclient.WithHTTPClient(r)}
	if token != "" {
		options = append(options, apiclient.WithToken(token))
	}
	c, err := apiclient.NewClientWithResponses(baseURL, options...)
	if err != nil {
		r.t.Fatalf("new client: %v", err)
	}
	return c
}

// Do implements apiclient.HttpRequestDoer.
func (r *specRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The relay's WebSocket opened: its body is the connection, which
		// this client does not speak; closing it ends the relay.
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(nil))
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	route, pathParams, err := r.router.FindRoute(req)
	if err != nil {
		r.t.Errorf("%s %s is no operation of the document: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	// Only bodies the filter can decode are checked; media downloads are
	// audio of any type.
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			ExcludeResponseBody:   mediaType != "application/json" && mediaType != "text/plain",
		},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), input); err != nil {
		r.t.Errorf("%s %s -> %d does not match the document: %v\nbody: %.2000s", req.Method, req.URL, resp.StatusCode, err, body)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 || resp.StatusCode == http.StatusSwitchingProtocols {
		r.mu.Lock()
		r.succeeded[route.Method+" "+route.Path] = true
		r.mu.Unlock()
	}
	return resp, nil
}

// requireEveryOperation fails the test for each operation of the document
// that never answered with a 2xx (the relay: 101) through the recorder.
func (r *specRecorder) requireEveryOperation(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var missing []string
	for path, item := range r.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !r.succeeded[method+" "+path] {
				missing = append(missing, method+" "+path+" ("+op.OperationID+")")
			}
		}
	}
	slices.Sort(missing)
	for _, operation := range missing {
		t.Errorf("operation never answered 2xx in TestOpenAPIRoundTrip: %s; call it there through pkg/apiclient", operation)
	}
	if len(r.succeeded) == 0 {
		t.Fatal("no operation answered at all")
	}
}

// status fails the test unless the answer has the wanted status.
func status(t *testing.T, resp interface{ StatusCode() int }, err error, want int) {
	t.Helper()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if got := resp.StatusCode(); got != want {
		t.Fatalf("status %d, want %d", got, want)
	}
}

// withHeader sets one request header on a single call.
func withHeader(name, value string) apiclient.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set(name, value)
		return nil
	}
}

// recordTestAttempts stands in for matcher and deliverer: it hears the test
// events the API publishes for accountID and records a successful attempt for
// each, as the deliverer would. Each recording's outcome arrives on the channel.
func recordTestAttempts(t *testing.T, h *harness, accountID string) <-chan error {
	t.Helper()
	q := store.New(h.pool)
	recorded := make(chan error, 16)
	sub, err := h.nc.Subscribe("events."+accountID+".>", func(m *nats.Msg) {
		var ev pbxhooksv1.Event
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			recorded <- err
			return
		}
		target := m.Header.Get(bus.HeaderTestHookID)
		status, body := int32(204), ""
		_, err := q.InsertAttempts(t.Context(), []store.InsertAttemptsParams{{
			AccountID: accountID, HookID: target, EventID: ev.GetId(), DeliveryID: ev.GetId() + ":" + target,
			Attempt: 1, RetriesLeft: 2, Result: "success", RequestMethod: "POST", RequestUrl: "http://e.com/cb",
			RequestHeaders: json.RawMessage(`{}`), ResponseStatus: &status, ResponseBody: &body, LatencyMs: 3, CreatedAt: time.Now(),
		}})
		recorded <- err
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return recorded
}

// TestOpenAPIRoundTrip calls every operation of the document through the
// generated client (pkg/apiclient) against the API on real PostgreSQL and
// NATS, checks each answer, success and error, against the document, and
// fails when an operation is never exercised: a new route goes into the
// document and into this test.
func TestOpenAPIRoundTrip(t *testing.T) {
	t.Parallel()
	media := newMediaFixture(t)
	h := media.h
	spec := newSpecRecorder(t)
	admin := spec.client(h.url, adminToken)
	anonymous := spec.client(h.url, "")
	ctx := t.Context()
	const account = "acct1"
	const missingID = "0123456789abcdef0123456789abcdef"

	// Operations and the open catalogue.
	live, err := anonymous.LivenessWithResponse(ctx)
	status(t, live, err, http.StatusOK)
	ready, err := anonymous.ReadinessWithResponse(ctx)
	status(t, ready, err, http.StatusOK)
	metrics, err := anonymous.MetricsWithResponse(ctx)
	status(t, metrics, err, http.StatusOK)
	if !strings.Contains(string(metrics.Body), "# TYPE") {
		t.Errorf("metrics: %.200s", metrics.Body)
	}
	document, err := anonymous.GetOpenAPIDocumentWithResponse(ctx)
	status(t, document, err, http.StatusOK)
	if !bytes.Equal(document.Body, openapi.Document()) {
		t.Error("served document differs from the embedded one")
	}
	hookTypes, err := anonymous.ListHookTypesWithResponse(ctx)
	status(t, hookTypes, err, http.StatusOK)
	if len(hookTypes.JSON200.Data) == 0 {
		t.Error("empty hook type catalogue")
	}

	// Hooks.
	customData := apiclient.CustomData{"account_id": "my_crm_account_id", "screen_pop": true}
	verb, retries := apiclient.HTTPVerbPost, 3
	created, err := admin.CreateHookWithResponse(ctx, account, apiclient.HookDocumentRequest{Data: apiclient.HookDocument{
		Name: "New Calls", Uri: "http://my.server.com/calls/new.php", HttpVerb: &verb, Hook: apiclient.HookKindChannelCreate,
		Retries: &retries, CustomData: &customData,
	}})
	status(t, created, err, http.StatusCreated)
	hook := created.JSON201.Data
	if hook.Secret == nil || !strings.HasPrefix(*hook.Secret, "whsec_") || hook.Revision != 1 || hook.CustomData["screen_pop"] != true {
		t.Fatalf("created hook: %s", created.Body)
	}
	if etag := created.HTTPResponse.Header.Get("ETag"); etag != `"1"` {
		t.Errorf("ETag %q", etag)
	}
	callStatuses := apiclient.CallStatuses{apiclient.CallStatusMissed}
	second, err := admin.CreateHookWithResponse(ctx, account, apiclient.HookDocumentRequest{Data: apiclient.HookDocument{
		Name: "n", Uri: "https://e.com", Hook: apiclient.HookKindCall, CallStatuses: &callStatuses,
	}})
	status(t, second, err, http.StatusCreated)
	invalid, err := admin.CreateHookWithBodyWithResponse(ctx, account, "application/json", strings.NewReader(`{"data":{"uri":"ftp://x"}}`))
	status(t, invalid, err, http.StatusBadRequest)
	if _, broken := invalid.JSON400.Data["name"]; !broken {
		t.Errorf("400 does not name the missing name: %s", invalid.Body)
	}
	unauthenticated, err := anonymous.CreateHookWithResponse(ctx, account, apiclient.HookDocumentRequest{Data: apiclient.HookDocument{
		Name: "n", Uri: "https://e.com", Hook: apiclient.HookKindAll,
	}})
	status(t, unauthenticated, err, http.StatusUnauthorized)
	tooLarge, err := admin.CreateHookWithBodyWithResponse(ctx, account, "application/json",
		strings.NewReader(`{"data":{"name":"`+strings.Repeat("x", maxBodyBytes)+`"}}`))
	status(t, tooLarge, err, http.StatusRequestEntityTooLarge)

	hooks, err := admin.ListHooksWithResponse(ctx, account)
	status(t, hooks, err, http.StatusOK)
	if len(hooks.JSON200.Data) != 2 || hooks.JSON200.Data[0].Id != hook.Id || hooks.JSON200.Data[0].Secret != nil {
		t.Fatalf("listed hooks: %s", hooks.Body)
	}
	unknownAccount, err := admin.ListHooksWithResponse(ctx, "nobody")
	status(t, unknownAccount, err, http.StatusNotFound)
	reenabled, err := admin.BulkUpdateHooksWithResponse(ctx, account, apiclient.BulkReenableRequest{
		Data: apiclient.BulkReenable{ReEnable: apiclient.BulkReenableReEnableTrue},
	})
	status(t, reenabled, err, http.StatusOK)
	if len(reenabled.JSON200.Data) != 0 {
		t.Errorf("re-enabled hooks nobody disabled: %s", reenabled.Body)
	}

	got, err := admin.GetHookWithResponse(ctx, account, hook.Id)
	status(t, got, err, http.StatusOK)
	if got.JSON200.Data.Name != "New Calls" || got.JSON200.Data.Secret != nil {
		t.Errorf("got hook: %s", got.Body)
	}
	replaced, err := admin.ReplaceHookWithResponse(ctx, account, hook.Id, nil, apiclient.HookDocumentRequest{Data: apiclient.HookDocument{
		Name: "New Calls", Uri: "http://my.server.com/calls/new_call.php", HttpVerb: &verb, Hook: apiclient.HookKindChannelCreate, Retries: &retries,
	}})
	status(t, replaced, err, http.StatusOK)
	if replaced.JSON200.Data.Uri != "http://my.server.com/calls/new_call.php" || replaced.JSON200.Data.Revision != 2 {
		t.Errorf("replaced hook: %s", replaced.Body)
	}
	disabled := false
	revision2 := `"2"`
	patched, err := admin.PatchHookWithResponse(ctx, account, hook.Id, &apiclient.PatchHookParams{IfMatch: &revision2},
		apiclient.HookPatchRequest{Data: apiclient.HookPatch{Enabled: &disabled}})
	status(t, patched, err, http.StatusOK)
	if patched.JSON200.Data.Enabled || patched.JSON200.Data.Revision != 3 {
		t.Errorf("patched hook: %s", patched.Body)
	}
	enabled := true
	stale, err := admin.PatchHookWithResponse(ctx, account, hook.Id, &apiclient.PatchHookParams{IfMatch: &revision2},
		apiclient.HookPatchRequest{Data: apiclient.HookPatch{Enabled: &enabled}})
	status(t, stale, err, http.StatusConflict)
	rotated, err := admin.RotateHookSecretWithBodyWithResponse(ctx, account, hook.Id, nil, "", nil)
	status(t, rotated, err, http.StatusOK)
	if rotated.JSON200.Data.Secret == nil || *rotated.JSON200.Data.Secret == *hook.Secret || rotated.JSON200.Data.PreviousSecretExpiresAt == nil {
		t.Errorf("rotated hook: %s", rotated.Body)
	}
	revealed, err := admin.RevealHookSecretWithResponse(ctx, account, hook.Id)
	status(t, revealed, err, http.StatusOK)
	if revealed.JSON200.Data.Secret != *rotated.JSON200.Data.Secret || revealed.JSON200.Data.PreviousSecretExpiresAt == nil ||
		!revealed.JSON200.Data.PreviousSecretExpiresAt.Equal(*rotated.JSON200.Data.PreviousSecretExpiresAt) ||
		revealed.HTTPResponse.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("revealed secret: %s", revealed.Body)
	}

	// The test delivery, its attempt, and the attempt listings.
	recorded := recordTestAttempts(t, h, account)
	tested, err := admin.TestHookWithResponse(ctx, account, hook.Id)
	status(t, tested, err, http.StatusOK)
	if err := <-recorded; err != nil {
		t.Fatalf("record attempt: %v", err)
	}
	attempt := tested.JSON200.Data
	if attempt.HookId != hook.Id || attempt.Result != apiclient.AttemptResultSuccess || !strings.HasPrefix(attempt.EventId, "test-") ||
		attempt.DeliveryId != attempt.EventId+":"+hook.Id || attempt.Response == nil || attempt.Response.Status != 204 {
		t.Fatalf("test attempt: %s", tested.Body)
	}
	pageSize, success := 1, apiclient.AttemptResultSuccess
	accountAttempts, err := admin.ListAccountAttemptsWithResponse(ctx, account, &apiclient.ListAccountAttemptsParams{PageSize: &pageSize, Result: &success})
	status(t, accountAttempts, err, http.StatusOK)
	if len(accountAttempts.JSON200.Data) != 1 || accountAttempts.JSON200.Data[0].Id != attempt.Id {
		t.Errorf("account attempts: %s", accountAttempts.Body)
	}
	badFilter, err := admin.ListAccountAttemptsWithResponse(ctx, account, nil, func(_ context.Context, req *http.Request) error {
		req.URL.RawQuery = url.Values{"from": {"never"}}.Encode()
		return nil
	})
	status(t, badFilter, err, http.StatusBadRequest)
	hookAttempts, err := admin.ListHookAttemptsWithResponse(ctx, account, hook.Id, nil)
	status(t, hookAttempts, err, http.StatusOK)
	if len(hookAttempts.JSON200.Data) != 1 || hookAttempts.JSON200.Data[0].DeliveryId != attempt.DeliveryId {
		t.Errorf("hook attempts: %s", hookAttempts.Body)
	}
	missingAttempts, err := admin.ListHookAttemptsWithResponse(ctx, account, missingID, nil)
	status(t, missingAttempts, err, http.StatusNotFound)

	// The relay is a WebSocket (relay_test.go speaks it): an upgrade
	// request opens it (101), a plain request gets 426, a bad filter 400.
	relayOpened, err := admin.OpenRelayWithResponse(ctx, account, &apiclient.OpenRelayParams{ForwardTo: "http://localhost:3000/hooks"},
		func(_ context.Context, req *http.Request) error {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			req.Header.Set("Sec-WebSocket-Protocol", relay.Subprotocol)
			return nil
		})
	status(t, relayOpened, err, http.StatusSwitchingProtocols)
	relayNotUpgraded, err := admin.OpenRelayWithResponse(ctx, account, &apiclient.OpenRelayParams{ForwardTo: "http://localhost:3000/hooks"})
	status(t, relayNotUpgraded, err, http.StatusUpgradeRequired)
	relayBadFilter, err := admin.OpenRelayWithResponse(ctx, account, &apiclient.OpenRelayParams{ForwardTo: "ftp://x/"})
	status(t, relayBadFilter, err, http.StatusBadRequest)
	if _, named := relayBadFilter.JSON400.Data["forward_to"]; !named {
		t.Errorf("400 does not name forward_to: %s", relayBadFilter.Body)
	}

	// Dead letters and delivery settings.
	deadLetters, err := admin.ListDeadLettersWithResponse(ctx, account, nil)
	status(t, deadLetters, err, http.StatusOK)
	if len(deadLetters.JSON200.Data) != 0 {
		t.Errorf("dead letters of a fresh account: %s", deadLetters.Body)
	}
	settings, err := admin.GetDeliverySettingsWithResponse(ctx, account)
	status(t, settings, err, http.StatusOK)
	if settings.JSON200.Data.AttemptFailureCount != nil || settings.JSON200.Data.AttemptFailureExpirySeconds != nil {
		t.Errorf("settings of a fresh account: %s", settings.Body)
	}
	failureCount := 3
	changed, err := admin.UpdateDeliverySettingsWithResponse(ctx, account, apiclient.DeliverySettingsPatchRequest{
		Data: apiclient.DeliverySettingsPatch{AttemptFailureCount: &failureCount},
	})
	status(t, changed, err, http.StatusOK)
	if c := changed.JSON200.Data; c.AttemptFailureCount == nil || *c.AttemptFailureCount != 3 || c.AttemptFailureExpirySeconds != nil || c.Modified == nil {
		t.Errorf("changed settings: %s", changed.Body)
	}
	emptyChange, err := admin.UpdateDeliverySettingsWithResponse(ctx, account, apiclient.DeliverySettingsPatchRequest{})
	status(t, emptyChange, err, http.StatusBadRequest)

	// Media by signed link, whole and by range.
	audio := randomBytes(t, 4096)
	media.put(t, "media-roundtrip", account, "audio/wav", audio)
	link, err := url.Parse(media.link(t, "media-roundtrip", account))
	if err != nil {
		t.Fatalf("parse link: %v", err)
	}
	query := link.Query()
	linkParams := &apiclient.DownloadMediaParams{Account: query.Get("account"), Expires: query.Get("expires"), Signature: query.Get("signature")}
	downloaded, err := anonymous.DownloadMediaWithResponse(ctx, "media-roundtrip", linkParams)
	status(t, downloaded, err, http.StatusOK)
	if !bytes.Equal(downloaded.Body, audio) {
		t.Errorf("downloaded %d bytes, want the %d stored", len(downloaded.Body), len(audio))
	}
	ranged, err := anonymous.DownloadMediaWithResponse(ctx, "media-roundtrip", linkParams, withHeader("Range", "bytes=100-199"))
	status(t, ranged, err, http.StatusPartialContent)
	if !bytes.Equal(ranged.Body, audio[100:200]) {
		t.Errorf("range: %d bytes", len(ranged.Body))
	}
	altered := *linkParams
	altered.Account = "acct2"
	forged, err := anonymous.DownloadMediaWithResponse(ctx, "media-roundtrip", &altered)
	status(t, forged, err, http.StatusForbidden)

	// Tokens.
	name := "ci"
	token, err := admin.CreateTokenWithResponse(ctx, account, apiclient.TokenCreateRequest{Data: apiclient.TokenCreate{Name: name}})
	status(t, token, err, http.StatusCreated)
	if token.JSON201.Data.Token == nil || !slices.Equal(token.JSON201.Data.Scopes, apiclient.TokenScopes{apiclient.TokenScopeApi}) {
		t.Fatalf("created token: %s", token.Body)
	}
	tokens, err := admin.ListTokensWithResponse(ctx, account)
	status(t, tokens, err, http.StatusOK)
	if len(tokens.JSON200.Data) != 1 || tokens.JSON200.Data[0].Id != token.JSON201.Data.Id || tokens.JSON200.Data[0].Token != nil {
		t.Errorf("listed tokens: %s", tokens.Body)
	}
	accountClient := spec.client(h.url, *token.JSON201.Data.Token)
	forbidden, err := accountClient.ListTokensWithResponse(ctx, account)
	status(t, forbidden, err, http.StatusForbidden)
	otherAccount, err := accountClient.ListHooksWithResponse(ctx, "acct2")
	status(t, otherAccount, err, http.StatusForbidden)
	ownHooks, err := accountClient.ListHooksWithResponse(ctx, account)
	status(t, ownHooks, err, http.StatusOK)
	revoked, err := admin.RevokeTokenWithResponse(ctx, account, token.JSON201.Data.Id)
	status(t, revoked, err, http.StatusOK)
	afterRevoke, err := accountClient.ListHooksWithResponse(ctx, account)
	status(t, afterRevoke, err, http.StatusUnauthorized)

	// Resend and recover (the matcher's side answered by fakeMatcher), and
	// a simulated call (ingest's by fakeIngest).
	h.storeAttempts(t, attemptRow(account, hook.Id, "ev-failed", "failure", 1, time.Now().Add(-time.Minute)))
	failedID := bus.DeliveryID("ev-failed", hook.Id)
	noMatcher, err := admin.ResendDeliveryWithResponse(ctx, account, failedID)
	status(t, noMatcher, err, http.StatusServiceUnavailable)
	unknownDelivery, err := admin.ResendDeliveryWithResponse(ctx, account, "ev-none:"+hook.Id)
	status(t, unknownDelivery, err, http.StatusNotFound)
	dryRun := true
	listed, err := admin.RecoverHookWithResponse(ctx, account, hook.Id, apiclient.RecoverRequest{
		Data: apiclient.RecoverOptions{Since: time.Now().Add(-time.Hour), DryRun: &dryRun}})
	status(t, listed, err, http.StatusOK)
	if d := listed.JSON200.Data.Deliveries; len(d) != 1 || d[0].DeliveryId != failedID || d[0].Resent {
		t.Errorf("recover dry run: %s", listed.Body)
	}
	badSince, err := admin.RecoverHookWithBodyWithResponse(ctx, account, hook.Id, "application/json", strings.NewReader(`{"data":{"since":"soon"}}`))
	status(t, badSince, err, http.StatusBadRequest)
	h.fakeMatcher(t, bus.ResendReply{})
	resent, err := admin.ResendDeliveryWithResponse(ctx, account, failedID)
	status(t, resent, err, http.StatusAccepted)
	if resent.JSON202.Data.DeliveryId != failedID || resent.JSON202.Data.ResendId == "" {
		t.Errorf("resend: %s", resent.Body)
	}
	recovered, err := admin.RecoverHookWithResponse(ctx, account, hook.Id, apiclient.RecoverRequest{
		Data: apiclient.RecoverOptions{Since: time.Now().Add(-time.Hour)}})
	status(t, recovered, err, http.StatusAccepted)
	if d := recovered.JSON202.Data.Deliveries; len(d) != 1 || !d[0].Resent {
		t.Errorf("recover: %s", recovered.Body)
	}
	ingest := httptest.NewServer(&fakeIngest{status: http.StatusAccepted})
	defer ingest.Close()
	simulating := newHarness(t, withIngest(ingest.URL))
	simulating.createHook(t, account, wirecloudBody)
	simulator := spec.client(simulating.url, adminToken)
	outbound := apiclient.CallDirectionOutbound
	simulated, err := simulator.SimulateCallWithResponse(ctx, account, apiclient.SimulateRequest{
		Data: apiclient.SimulateOptions{Scenario: apiclient.ScenarioBusy, Direction: &outbound}})
	status(t, simulated, err, http.StatusAccepted)
	if sim := simulated.JSON202.Data; sim.Direction != apiclient.CallDirectionOutbound || len(sim.Callbacks) != 2 ||
		sim.Callbacks[1].Status == nil || *sim.Callbacks[1].Status != apiclient.CallStatusBusy {
		t.Errorf("simulate: %s", simulated.Body)
	}
	unknownScenario, err := simulator.SimulateCallWithBodyWithResponse(ctx, account, "application/json", strings.NewReader(`{"data":{"scenario":"x"}}`))
	status(t, unknownScenario, err, http.StatusBadRequest)

	// Deleting, conditionally and twice.
	deleted, err := admin.DeleteHookWithBodyWithResponse(ctx, account, hook.Id, nil, "", nil)
	status(t, deleted, err, http.StatusOK)
	if deleted.JSON200.Data.Id != hook.Id {
		t.Errorf("deleted hook: %s", deleted.Body)
	}
	again, err := admin.DeleteHookWithBodyWithResponse(ctx, account, hook.Id, nil, "", nil)
	status(t, again, err, http.StatusNotFound)
	var currentRevision apiclient.RevisionInput
	if err := currentRevision.FromRevisionInput0(1); err != nil {
		t.Fatal(err)
	}
	conditionalDelete, err := admin.DeleteHookWithResponse(ctx, account, second.JSON201.Data.Id, nil, apiclient.RevisionRequest{
		Data: &apiclient.RevisionCondition{Revision: &currentRevision},
	})
	status(t, conditionalDelete, err, http.StatusOK)

	// Events: the index (one row put there as the indexer would), a call's
	// timeline, a hook's preview, and the live stream, which the server
	// ends at once (so the recorder can read it whole) after opening it.
	if _, err := h.pool.Exec(ctx, `INSERT INTO events_index (account_id, event_id, kind, lifecycle, call_type, status,
		call_id, thread_id, from_number, to_number, occurred_at, received_at, payload)
		VALUES ($1, 'rt-1', 'call', 'channel_destroy', 'incoming_call', 'missed', 'rt-call', 'rt-thread', '+15550100', '5010', now(), now(),
		'{"id":"rt-1","status":"missed"}')`, account); err != nil {
		t.Fatal(err)
	}
	missed := apiclient.EventStatusMissed
	searched, err := admin.SearchEventsWithResponse(ctx, account, &apiclient.SearchEventsParams{Status: &missed})
	status(t, searched, err, http.StatusOK)
	if len(searched.JSON200.Data) != 1 || searched.JSON200.Data[0].EventId != "rt-1" || searched.JSON200.Data[0].CallType == nil {
		t.Errorf("searched events: %s", searched.Body)
	}
	badSearch, err := admin.SearchEventsWithResponse(ctx, account, nil, func(_ context.Context, req *http.Request) error {
		req.URL.RawQuery = url.Values{"status": {"lost"}}.Encode()
		return nil
	})
	status(t, badSearch, err, http.StatusBadRequest)
	timeline, err := admin.GetCallTimelineWithResponse(ctx, account, "rt-thread")
	status(t, timeline, err, http.StatusOK)
	if tl := timeline.JSON200.Data; len(tl.Events) != 1 || tl.Events[0].Payload == nil || len(tl.Deliveries) != 0 {
		t.Errorf("timeline: %s", timeline.Body)
	}
	noCall, err := admin.GetCallTimelineWithResponse(ctx, account, "no-such-call")
	status(t, noCall, err, http.StatusNotFound)
	previewed, err := admin.PreviewHookWithResponse(ctx, account, nil, apiclient.HookDocumentRequest{Data: apiclient.HookDocument{
		Name: "n", Uri: "https://e.com", Hook: apiclient.HookKindCall, CallStatuses: &callStatuses,
	}})
	status(t, previewed, err, http.StatusOK)
	if p := previewed.JSON200.Data; p.Examined != 1 || len(p.Matched) != 1 {
		t.Errorf("preview: %s", previewed.Body)
	}
	badStream, err := admin.StreamEventsWithResponse(ctx, account, nil, func(_ context.Context, req *http.Request) error {
		req.URL.RawQuery = url.Values{"status": {"lost"}}.Encode()
		return nil
	})
	status(t, badStream, err, http.StatusBadRequest)
	h.srv.CloseStreams()
	stream, err := admin.StreamEventsWithResponse(ctx, account, nil)
	status(t, stream, err, http.StatusOK)
	if !strings.Contains(string(stream.Body), "event: close") {
		t.Errorf("stream: %s", stream.Body)
	}

	spec.requireEveryOperation(t)
}
