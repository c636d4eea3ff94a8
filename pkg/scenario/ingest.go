package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// maxAnswerBytes bounds how much of ingest's answer is read.
const maxAnswerBytes = 64 << 10

// Ingest sends sequences to ingest's HTTP intake, as a PBX would: call
// events to POST /v1/accounts/{account_id}/events, media to
// POST /v1/accounts/{account_id}/media, one step at a time in order.
type Ingest struct {
	// BaseURL is ingest's address, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Token is the admin token or a token of the account with scope pbx.
	Token string
	// Client sends the requests; nil is http.DefaultClient.
	Client *http.Client
}

// IngestError is a step ingest did not accept.
type IngestError struct {
	// Step is the index of the refused step; the steps before it were
	// stored.
	Step int
	// Status is ingest's HTTP status (0 when no answer came).
	Status int
	// Message is ingest's error message, or the transport error.
	Message string
}

func (e *IngestError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("ingest did not answer step %d: %s", e.Step+1, e.Message)
	}
	return fmt.Sprintf("ingest refused step %d (%d): %s", e.Step+1, e.Status, e.Message)
}

// Send stores every step of seq for accountID through ingest. It stops at
// the first step ingest does not answer 202, with an *IngestError. Each
// step's event id is fixed, so sending a sequence again after a failure
// stores nothing twice (within ingest's dedupe window).
func (in Ingest) Send(ctx context.Context, accountID string, seq Sequence) error {
	if err := event.ValidateAccountID(accountID); err != nil {
		return err
	}
	base, err := url.Parse(strings.TrimRight(in.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("ingest URL %q: must be an http or https URL", in.BaseURL)
	}
	account := base.String() + "/v1/accounts/" + url.PathEscape(accountID)
	for i, step := range seq.Steps {
		var req *http.Request
		switch {
		case step.Upload != nil:
			req, err = uploadRequest(ctx, account+"/media", step.Upload)
		default:
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, account+"/events", bytes.NewReader(step.Event))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
			}
		}
		if err != nil {
			return fmt.Errorf("scenario step %d: %w", i+1, err)
		}
		req.Header.Set("Authorization", "Bearer "+in.Token)
		if err := in.do(req, i); err != nil {
			return err
		}
	}
	return nil
}

func (in Ingest) do(req *http.Request, step int) error {
	client := in.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return &IngestError{Step: step, Message: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if resp.StatusCode == http.StatusAccepted {
		return nil
	}
	var envelope struct {
		Message string `json:"message"`
	}
	message := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &envelope) == nil && envelope.Message != "" {
		message = envelope.Message
	}
	return &IngestError{Step: step, Status: resp.StatusCode, Message: message}
}

// uploadRequest is the multipart form of one media upload: the fields
// (sorted, so the form is the same every time) then the file.
func uploadRequest(ctx context.Context, target string, up *Upload) (*http.Request, error) {
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	names := make([]string, 0, len(up.Fields))
	for name := range up.Fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := w.WriteField(name, up.Fields[name]); err != nil {
			return nil, err
		}
	}
	part, err := w.CreateFormFile("file", up.Fields["filename"])
	if err != nil {
		return nil, err
	}
	if _, err := part.Write(up.File); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, &form)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return req, nil
}
