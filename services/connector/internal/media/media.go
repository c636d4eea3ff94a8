// Package media uploads the recordings and voicemail messages a PBX
// announces to ingest's media route, which stores the file and its media
// event in one request. Jobs wait in a spool of their own, so a slow or
// failing upload never holds up the PBX socket and survives a restart.
package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
)

// Job is one file to upload, as the media route's form names its fields.
type Job struct {
	// ID is the upload's dedupe key: a repeated upload is stored once.
	ID     string `json:"id"`
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Path is the file as the PBX named it.
	Path string `json:"path"`
}

// Retry backoff, and the subject the job spool files jobs under.
const (
	retryMin   = time.Second
	retryMax   = time.Minute
	jobSubject = "media"
)

// Uploader drains the job spool into ingest's media route.
type Uploader struct {
	Jobs *spool.Spool
	// Root is the directory as the PBX names it (CONNECTOR_MEDIA_ROOT);
	// only files under it are uploaded. Dir is the same directory as the
	// connector sees it (mounted), opened as an os.Root so no path in an
	// event can leave it.
	Root string
	Dir  *os.Root
	// URL is ingest's base URL; Token a pbx-scope account token.
	URL, Token, AccountID string
	HTTP                  *http.Client
	Log                   *slog.Logger
	// Uploaded and Dropped count outcomes; either may be nil.
	Uploaded, Dropped func()
}

// Enqueue files a job; it fails only when the job spool is full or the
// disk fails, and the caller logs it: the call's events go on regardless.
func (u *Uploader) Enqueue(j Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return u.Jobs.Append(jobSubject, b)
}

// Run uploads until ctx is cancelled, oldest job first.
func (u *Uploader) Run(ctx context.Context) error {
	wait := retryMin
	for {
		rec, ok, more, err := u.Jobs.Oldest()
		switch {
		case errors.Is(err, spool.ErrCorrupt):
			u.Log.ErrorContext(ctx, "unreadable media job dropped", telemetry.KeyError, err)
			if err := u.Jobs.RemoveOldest(); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		case !ok:
			select {
			case <-ctx.Done():
				return nil
			case <-more:
			}
			continue
		}
		var j Job
		if err := json.Unmarshal(rec.Data, &j); err != nil {
			u.drop(ctx, j, err)
		} else if err := u.upload(ctx, j); err != nil {
			var perm *permanentError
			if !errors.As(err, &perm) {
				if ctx.Err() != nil {
					return nil
				}
				u.Log.WarnContext(ctx, "media upload failed; will retry", telemetry.KeyCallID, j.CallID, "retry_in", wait.String(), telemetry.KeyError, err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
				wait = min(wait*2, retryMax)
				continue
			}
			u.drop(ctx, j, err)
		} else if u.Uploaded != nil {
			u.Uploaded()
		}
		wait = retryMin
		if err := u.Jobs.Remove(rec.Seq); err != nil {
			return err
		}
	}
}

func (u *Uploader) drop(ctx context.Context, j Job, err error) {
	u.Log.ErrorContext(ctx, "media not uploaded", telemetry.KeyCallID, j.CallID, "path", j.Path, telemetry.KeyError, err)
	if u.Dropped != nil {
		u.Dropped()
	}
}

// permanentError is an upload no retry can fix: a file outside the root
// or gone, or ingest refusing the form.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// relative is p below Root, or an error when p is not under it.
func (u *Uploader) relative(p string) (string, error) {
	clean := filepath.Clean(p)
	root := filepath.Clean(u.Root)
	rel, err := filepath.Rel(root, clean)
	if err != nil || !filepath.IsAbs(clean) || rel == "." || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%q is not under the media root %q", p, u.Root)
	}
	return rel, nil
}

var contentTypes = map[string]string{".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".gsm": "audio/gsm"}

func (u *Uploader) upload(ctx context.Context, j Job) error {
	rel, err := u.relative(j.Path)
	if err != nil {
		return &permanentError{err}
	}
	f, err := u.Dir.Open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return &permanentError{fmt.Errorf("%s is gone (a discarded message?)", j.Path)}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	name := path.Base(filepath.ToSlash(rel))
	ctype := contentTypes[strings.ToLower(path.Ext(name))]
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	pr, pw := io.Pipe()
	form := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, kv := range [][2]string{{"id", j.ID}, {"type", j.Type}, {"call_id", j.CallID}, {"from", j.From}, {"to", j.To}, {"filename", name}, {"content_type", ctype}} {
				if kv[1] == "" {
					continue
				}
				if err := form.WriteField(kv[0], kv[1]); err != nil {
					return err
				}
			}
			part, err := form.CreateFormFile("file", name)
			if err != nil {
				return err
			}
			if _, err := io.Copy(part, f); err != nil {
				return err
			}
			return form.Close()
		}()
		pw.CloseWithError(err)
	}()
	endpoint := strings.TrimSuffix(u.URL, "/") + "/v1/accounts/" + url.PathEscape(u.AccountID) + "/media"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, pr)
	if err != nil {
		pr.Close()
		return &permanentError{err}
	}
	req.Header.Set("Content-Type", form.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+u.Token)
	client := u.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("ingest answered %s: %.200s", resp.Status, msg)
	default:
		return &permanentError{fmt.Errorf("ingest refused the upload: %s: %.200s", resp.Status, msg)}
	}
}
