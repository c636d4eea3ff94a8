package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
)

const (
	mediaPath = "/v1/accounts/{account_id}/media"
	// uploadSource is the Event.source of uploaded media.
	uploadSource = "upload"
	// maxFieldBytes bounds each form field; maxParts bounds the parts of
	// one upload, so the form around the file stays small.
	maxFieldBytes = 512
	maxParts      = 32
	// formAllowance is what the form may add to the file's size.
	formAllowance = 64 << 10
	// uploadHeldBytes is what one upload holds in memory while it streams:
	// the store's chunk and the form's fields. It is paid for from the
	// in-flight bytes like a batch's body.
	uploadHeldBytes = media.ChunkBytes + maxParts*maxFieldBytes
)

// mediaFields are the form fields of an upload besides the file.
var mediaFields = []string{"type", "id", "call_id", "thread_id", "from", "from_name", "to", "to_name", "filename", "content_type"}

type uploadedBody struct {
	Data uploadedData `json:"data"`
}

type uploadedData struct {
	ID      string `json:"id"`
	MediaID string `json:"media_id,omitempty"`
	// Duplicate is true when an upload with the same id was already stored
	// within the dedupe window: this upload's file was discarded and the
	// first one stands.
	Duplicate bool `json:"duplicate,omitempty"`
}

// uploadMedia accepts a voicemail or call recording as multipart/form-data:
// a `file` part and the event's fields, in any order. The file is streamed
// into the media bucket (never held in memory) while its size and SHA-256
// are computed; then the media event is stored on EVENTS. The answer is 202
// only once both are stored. A file over the limit is refused 413 and
// nothing of it is kept; a form that fails validation is refused 400, its
// file deleted and its fields dead-lettered.
func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	span := trace.SpanFromContext(ctx)

	accountID := r.PathValue("account_id")
	if err := event.ValidateAccountID(accountID); err != nil || accountID == adapter.AnyAccount {
		return errBadRequest("invalid account id", fieldErrors{}.with("account_id", adapter.RulePattern, "must name a real account"))
	}
	span.SetAttributes(attribute.String(telemetry.KeyAccountID, accountID))
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return &apiError{status: http.StatusUnsupportedMediaType, message: "Content-Type must be multipart/form-data"}
	}
	held := s.inflight.reserve()
	defer held.release()
	if err := held.growTo(uploadHeldBytes); err != nil {
		return err
	}
	formBody := s.boundBody(w, r, s.media.MaxBytes()+formAllowance)
	form, err := s.readUpload(ctx, multipart.NewReader(formBody, params["boundary"]), formBody)
	if err != nil {
		return err
	}
	ev, verr := uploadEvent(accountID, form, time.Now())
	if verr != nil {
		s.discardMedia(ctx, form.stored.MediaID)
		fields, _ := json.Marshal(form.fields)
		in := accept.Input{AccountID: accountID, Raw: fields, Source: r.Method + " " + r.URL.Path}
		if out := s.pipeline.Reject(ctx, in, "", verr, bus.Permanent("invalid media upload", verr)); out.Result == accept.Unavailable {
			return unavailable(out)
		}
		return errBadRequest(verr.Error(), fieldErrorsOf(verr, "", nil))
	}
	pubCtx, cancel := context.WithTimeout(ctx, s.limits.PublishTimeout)
	defer cancel()
	media := ev.GetMedia()
	if err := s.media.Describe(pubCtx, media.GetMediaId(), accountID, media.GetFilename(), media.GetContentType()); err != nil {
		s.discardMedia(ctx, form.stored.MediaID)
		s.log.WarnContext(ctx, "media object metadata not stored", telemetry.KeyAccountID, accountID, telemetry.KeyError, err)
		return &apiError{status: http.StatusServiceUnavailable, retryAfter: retryAfter,
			message: "the media store did not acknowledge in time; resend the upload"}
	}
	duplicate, err := s.pub.Store(pubCtx, ev)
	if err != nil {
		// The outcome is unknown (the event may be stored), so the file
		// stays; an unreferenced one expires with the bucket's TTL.
		s.log.WarnContext(ctx, "media event not acknowledged by JetStream", telemetry.KeyAccountID, accountID, telemetry.KeyError, err)
		return &apiError{status: http.StatusServiceUnavailable, retryAfter: retryAfter,
			message: "the event store did not acknowledge in time; resend the upload with the same id, it is deduplicated"}
	}
	body := uploadedBody{Data: uploadedData{ID: ev.GetId(), MediaID: form.stored.MediaID}}
	if duplicate {
		// The stored event names the first upload's file; this copy is
		// referenced by nothing.
		s.discardMedia(ctx, form.stored.MediaID)
		body.Data.MediaID, body.Data.Duplicate = "", true
	}
	writeJSON(w, http.StatusAccepted, body)
	return nil
}

// upload is what readUpload found.
type upload struct {
	fields map[string]string
	stored media.Stored
	// partFilename and partContentType are the file part's own headers,
	// used when the form does not give filename and content_type.
	partFilename, partContentType string
}

// readUpload reads every part of body, streaming the file into the media
// bucket. On any error no object remains.
func (s *Server) readUpload(ctx context.Context, mr *multipart.Reader, body *requestBody) (form upload, err error) {
	form.fields = map[string]string{}
	defer func() {
		if err != nil {
			s.discardMedia(ctx, form.stored.MediaID)
		}
	}()
	known := map[string]bool{}
	for _, f := range mediaFields {
		known[f] = true
	}
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return form, formError(body, err)
		}
		if parts >= maxParts {
			return form, errBadRequest(fmt.Sprintf("the form has more than %d parts", maxParts), nil)
		}
		name := part.FormName()
		switch {
		case name == "file":
			if form.stored.MediaID != "" {
				return form, errBadRequest("the form has more than one file part", nil)
			}
			form.partFilename = adapter.Clip(strings.ToValidUTF8(part.FileName(), "\uFFFD"), maxFieldBytes)
			form.partContentType = adapter.Clip(strings.ToValidUTF8(part.Header.Get("Content-Type"), "\uFFFD"), maxFieldBytes)
			file := &recordingReader{r: part}
			form.stored, err = s.media.Put(ctx, file, form.partFilename, form.partContentType)
			if err != nil {
				return form, s.putError(ctx, body, file, err)
			}
		case known[name]:
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return form, formError(body, err)
			}
			if len(v) > maxFieldBytes {
				return form, errBadRequest(name+" must be at most 512 bytes", fieldErrors{}.with(name, adapter.RuleMaxLength, name+" must be at most 512 bytes"))
			}
			// Event fields travel as protobuf strings, which must be UTF-8.
			form.fields[name] = strings.ToValidUTF8(string(v), "\uFFFD")
		}
		// Unknown parts are skipped: NextPart discards what was not read.
	}
	if form.stored.MediaID == "" {
		return form, errBadRequest("the form has no file part", fieldErrors{}.with("file", adapter.RuleRequired, "file is required"))
	}
	return form, nil
}

// putError tells the sender's fault (too large, too slow, broken body or
// form) from ours.
func (s *Server) putError(ctx context.Context, body *requestBody, file *recordingReader, err error) error {
	failure := body.failure()
	switch {
	case errors.Is(err, media.ErrTooLarge), failure != nil && failure.status == http.StatusRequestEntityTooLarge:
		return &apiError{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("the file exceeds %d bytes", s.media.MaxBytes())}
	case file.err != nil:
		return formError(body, file.err)
	default:
		s.log.WarnContext(ctx, "media not stored", telemetry.KeyError, err)
		return &apiError{status: http.StatusServiceUnavailable, retryAfter: retryAfter, message: "the media store did not accept the file; resend the upload"}
	}
}

// formError answers a form that could not be read: for the body's own
// failure (408, 413, broken off), or else for the form's syntax, which
// multipart names.
func formError(body *requestBody, err error) error {
	if failure := body.failure(); failure != nil {
		return failure
	}
	return errBadRequest("the multipart body could not be read: "+err.Error(), nil)
}

func (s *Server) discardMedia(ctx context.Context, mediaID string) {
	if mediaID == "" {
		return
	}
	if err := s.media.Delete(context.WithoutCancel(ctx), mediaID); err != nil {
		s.log.WarnContext(ctx, "discarding an unreferenced media file failed; it expires with the bucket TTL", "media_id", mediaID, telemetry.KeyError, err)
	}
}

// uploadEvent validates the form and builds the media event. Without an
// `id` the event id is the media id, so each upload is its own event; a
// sender that may resend should give one.
func uploadEvent(accountID string, form upload, receivedAt time.Time) (*pbxhooksv1.Event, *adapter.ValidationError) {
	f := form.fields
	problems := &adapter.ValidationError{}
	mediaType := f["type"]
	switch {
	case mediaType == "":
		problems.Add("type", adapter.RuleRequired, "type is required: voicemail or call_recording")
	case !event.IsMediaType(mediaType):
		problems.Add("type", adapter.RuleEnum, fmt.Sprintf("type must be one of %v", event.MediaTypes))
	}
	id, given := f["id"]
	if !given {
		id = form.stored.MediaID
	} else if !adapter.IsPrintableID(id) {
		problems.Add("id", adapter.RulePattern, fmt.Sprintf("id must be 1 to %d printable ASCII characters without spaces", adapter.MaxIDBytes))
	}
	if err := problems.OrNil(); err != nil {
		return nil, problems
	}
	filename, contentType := f["filename"], f["content_type"]
	if filename == "" {
		filename = form.partFilename
	}
	if contentType == "" {
		contentType = form.partContentType
	}
	received := timestamppb.New(receivedAt.UTC())
	return &pbxhooksv1.Event{
		Id:         id,
		AccountId:  accountID,
		Kind:       event.KindMedia,
		Source:     uploadSource,
		OccurredAt: received,
		ReceivedAt: received,
		CallId:     f["call_id"],
		ThreadId:   f["thread_id"],
		From:       f["from"],
		FromName:   f["from_name"],
		To:         f["to"],
		ToName:     f["to_name"],
		Media: &pbxhooksv1.Media{
			Type:        mediaType,
			MediaId:     form.stored.MediaID,
			ObjectName:  form.stored.MediaID,
			Filename:    filename,
			ContentType: contentType,
			SizeBytes:   form.stored.SizeBytes,
			Sha256:      form.stored.SHA256,
		},
	}, nil
}

// recordingReader remembers the file part's read error (a broken body, or
// a form that ends inside the file), which the object store's Put does not
// return unwrapped.
type recordingReader struct {
	r   io.Reader
	err error
}

func (b *recordingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}
