// Package media keeps voicemail and call recording files in the NATS Object
// Store bucket bus.MediaBucket, under object name = media id, and checks
// that media events name a stored file.
package media

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// ChunkBytes is the size of the chunks Put stores a file in, and the
// buffer one Put holds.
const ChunkBytes = 128 << 10

// ErrTooLarge is returned by Put for a file over the store's limit; nothing
// of it is kept.
var ErrTooLarge = errors.New("media file too large")

// Store is the media bucket with ingest's size limit.
type Store struct {
	obs      jetstream.ObjectStore
	maxBytes int64
}

// New wraps an open bucket (see bus.EnsureMediaBucket); files over maxBytes
// are refused.
func New(obs jetstream.ObjectStore, maxBytes int64) (*Store, error) {
	if obs == nil || maxBytes <= 0 {
		return nil, errors.New("media: an object store and a positive size limit are required")
	}
	return &Store{obs: obs, maxBytes: maxBytes}, nil
}

// MaxBytes is the largest file Put accepts.
func (s *Store) MaxBytes() int64 { return s.maxBytes }

// Stored describes a file Put kept.
type Stored struct {
	MediaID   string
	SizeBytes int64
	// SHA256 is the lowercase hex digest of the file.
	SHA256 string
}

// Put streams r into a new object named by a fresh random media id,
// computing size and SHA-256 on the way, so a file is never held in
// memory. A file over the limit fails with ErrTooLarge and any other read
// or store failure with its error; in both cases no object remains, and no
// chunk of it either, even when ctx was cancelled (the sender went away):
// the store purges what it wrote with the context it was given, so it gets
// one that the request's end does not cancel, and ctx's end stops the
// upload as a read error instead (see cancelReader).
func (s *Store) Put(ctx context.Context, r io.Reader, filename, contentType string) (Stored, error) {
	id, err := NewMediaID()
	if err != nil {
		return Stored{}, err
	}
	counted := &countingReader{r: r, limit: s.maxBytes, sum: sha256.New()}
	meta := jetstream.ObjectMeta{Name: id, Description: filename, Opts: &jetstream.ObjectMetaOptions{ChunkSize: ChunkBytes}}
	if contentType != "" {
		meta.Headers = map[string][]string{"Content-Type": {contentType}}
	}
	// The store writes one chunk per Read; filling each makes the file
	// ChunkBytes chunks instead of one per short read of the network.
	body := fullChunks{r: cancelReader{ctx: ctx, r: counted}}
	if _, err := s.obs.Put(context.WithoutCancel(ctx), meta, body); err != nil {
		// Put purges the chunks it wrote when the reader fails; the delete
		// covers a failure after the object's metadata was written.
		s.discard(context.WithoutCancel(ctx), id)
		if counted.tooLarge {
			return Stored{}, ErrTooLarge
		}
		return Stored{}, fmt.Errorf("store media %s: %w", id, err)
	}
	return Stored{MediaID: id, SizeBytes: counted.n, SHA256: hex.EncodeToString(counted.sum.Sum(nil))}, nil
}

// Describe records on a stored object what the download side serves and
// checks: its filename, content type and owning account (the account the
// upload was made for: only it may name the object in an event, get a link
// to it or download it; see bus.OwnedMedia). The form's fields
// may follow the file part, so this runs once the whole form is read.
func (s *Store) Describe(ctx context.Context, mediaID, accountID, filename, contentType string) error {
	meta := jetstream.ObjectMeta{
		Name:        mediaID,
		Description: filename,
		Metadata:    map[string]string{bus.MediaMetaAccountID: accountID, bus.MediaMetaContentType: contentType},
	}
	if contentType != "" {
		meta.Headers = map[string][]string{"Content-Type": {contentType}}
	}
	if err := s.obs.UpdateMeta(ctx, mediaID, meta); err != nil {
		return fmt.Errorf("describe media %s: %w", mediaID, err)
	}
	return nil
}

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, mediaID string) error {
	if err := s.obs.Delete(ctx, mediaID); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("delete media %s: %w", mediaID, err)
	}
	return nil
}

func (s *Store) discard(ctx context.Context, id string) { _ = s.Delete(ctx, id) }

// NewMediaID returns 32 random hex characters.
func NewMediaID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random media id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Attach checks that the media event ev names a file its account stored
// and fills in what the store knows: object name, size and SHA-256 (and the
// content type when the event has none). Input that names no file, or a
// file that is not there or is not the event's account's, or whose size or
// digest disagree with the event's, is a *adapter.ValidationError; a file
// of another account (or of none, put into the bucket directly) gets
// exactly the answer of a missing one, and its size and digest are never
// compared, so an account learns nothing about files that are not its own.
// A failed lookup is returned as is (retryable). Events of other kinds are
// left alone.
func (s *Store) Attach(ctx context.Context, ev *pbxhooksv1.Event) error {
	if ev.GetKind() != event.KindMedia {
		return nil
	}
	m := ev.GetMedia()
	if m == nil || m.GetMediaId() == "" {
		return adapter.Invalid("media_id", adapter.RuleRequired, "media_id is required: put the file into the Object Store bucket first, or upload it with POST /v1/accounts/{account_id}/media")
	}
	info, err := bus.OwnedMedia(ctx, s.obs, m.GetMediaId(), ev.GetAccountId())
	if errors.Is(err, bus.ErrMediaNotFound) {
		return adapter.Invalid("media_id", adapter.RuleEnum, fmt.Sprintf("media_id %q names no file in the media bucket", clip(m.GetMediaId())))
	}
	if err != nil {
		return err
	}
	digest, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil || len(digest) != sha256.Size {
		return adapter.Invalid("media_id", adapter.RuleFormat, fmt.Sprintf("media %q has no SHA-256 digest in the store", clip(m.GetMediaId())))
	}
	sum := hex.EncodeToString(digest)
	problems := &adapter.ValidationError{}
	if m.GetSizeBytes() != 0 && uint64(m.GetSizeBytes()) != info.Size {
		problems.Add("size_bytes", adapter.RuleEnum, fmt.Sprintf("size_bytes is %d but the stored file has %d bytes", m.GetSizeBytes(), info.Size))
	}
	if m.GetSha256() != "" && m.GetSha256() != sum {
		problems.Add("sha256", adapter.RuleEnum, "sha256 does not match the stored file")
	}
	if err := problems.OrNil(); err != nil {
		return err
	}
	m.ObjectName = info.Name
	m.SizeBytes = int64(info.Size)
	m.Sha256 = sum
	if m.GetContentType() == "" && info.Headers != nil {
		m.ContentType = info.Headers.Get("Content-Type")
	}
	return nil
}

func clip(s string) string { return adapter.Clip(s, 80) }

// cancelReader fails once ctx is done, so an upload stops when its request
// ends although the store runs on a context that does not.
type cancelReader struct {
	ctx context.Context
	r   io.Reader
}

func (c cancelReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fullChunks fills each Read's buffer unless the stream ends or fails
// first. (io.ReadFull would not do: it reports a clean end inside the
// buffer and a sender's truncated body alike as io.ErrUnexpectedEOF.)
type fullChunks struct{ r io.Reader }

func (f fullChunks) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := f.r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// countingReader counts and hashes what passes and fails once more than
// limit bytes were read.
type countingReader struct {
	r        io.Reader
	limit    int64
	n        int64
	sum      hash.Hash
	tooLarge bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.sum.Write(p[:n])
	if c.n > c.limit {
		c.tooLarge = true
		return 0, ErrTooLarge
	}
	return n, err
}
