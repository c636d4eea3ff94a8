package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
)

// MediaDeps configures GET /v1/media/{media_id}, the download behind the
// signed links of media webhooks.
type MediaDeps struct {
	// LinkKeys verify download links (MEDIA_LINK_KEYS, the same value the
	// matcher signs with). Without keys every link is refused.
	LinkKeys []medialink.Key
	// Links signs the download links a call timeline shows, as the matcher
	// signs those of media webhooks (MEDIA_LINK_KEYS, MEDIA_LINK_TTL,
	// PUBLIC_BASE_URL); without it timelines show no links.
	Links *medialink.Linker
	// Now is the clock link expiry is checked against; time.Now when nil.
	Now func() time.Time
}

// errMediaLinkRefused is the one answer to every link that does not verify:
// expired, altered, forged or issued for something else. The client learns
// nothing about which.
var errMediaLinkRefused = &Error{Status: http.StatusForbidden, Message: "this media link is invalid or has expired"}

// downloadMedia streams one media object. It needs no API token: the signed
// link is the credential. 403 for a link that does not verify; 404 for an
// object that is gone or that the link's account does not own (another
// account's, or nobody's), the same 404 in every case so a link reveals
// nothing about files that are not its account's; Range requests honoured.
func (s *Server) downloadMedia(c echo.Context) error {
	mediaID := c.Param("media_id")
	now := time.Now
	if s.media.Now != nil {
		now = s.media.Now
	}
	accountID, err := medialink.VerifyQuery(s.media.LinkKeys, mediaID, c.QueryParams(), now())
	if err != nil {
		return errMediaLinkRefused
	}

	ctx := c.Request().Context()
	objects, err := s.js.ObjectStore(ctx, bus.MediaBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return errNotFound("media not found")
	}
	if err != nil {
		return errInternal(fmt.Errorf("open object store %s: %w", bus.MediaBucket, err))
	}
	info, err := bus.OwnedMedia(ctx, objects, mediaID, accountID)
	if errors.Is(err, bus.ErrMediaNotFound) {
		return errNotFound("media not found")
	}
	if err != nil {
		return errInternal(err)
	}

	h := c.Response().Header()
	h.Set(echo.HeaderContentType, mediaContentType(info))
	// The media came from a PBX: never let a browser treat it as a page of
	// this origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	// The URL is a credential; keep it and the file out of shared caches.
	h.Set("Cache-Control", "private, no-store")
	if info.Digest != "" {
		h.Set("ETag", strconv.Quote(info.Digest))
	}
	size := int64(info.Size)
	req := c.Request()
	ranges, err := parseMediaRanges(req.Header.Get("Range"), size)
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return &Error{Status: http.StatusRequestedRangeNotSatisfiable, Message: fmt.Sprintf("%s (the media is %d bytes)", err, size)}
	}
	if ranges == nil {
		req.Header.Del("Range")
	} else {
		req.Header.Set("Range", rangeHeader(ranges))
	}
	body := &objectReadSeeker{ctx: ctx, store: objects, name: mediaID, size: size}
	defer body.Close()
	caught := &errorStatusCatcher{ResponseWriter: c.Response()}
	http.ServeContent(caught, req, "", info.ModTime, body)
	if caught.status != 0 {
		return &Error{Status: caught.status, Message: mediaConditionMessage(caught.status)}
	}
	return nil
}

// mediaConditionMessage explains an error http.ServeContent chose.
func mediaConditionMessage(status int) string {
	if status == http.StatusPreconditionFailed {
		return "the media does not match If-Match or If-Unmodified-Since"
	}
	return http.StatusText(status)
}

// mediaContentType is the object's recorded content type when it is audio
// or video, else application/octet-stream: a PBX must not be able to make
// us serve text/html.
func mediaContentType(info *jetstream.ObjectInfo) string {
	candidates := []string{info.Headers.Get(echo.HeaderContentType), info.Metadata[bus.MediaMetaContentType]}
	for _, raw := range candidates {
		mediaType, params, err := mime.ParseMediaType(raw)
		if err != nil {
			continue
		}
		if strings.HasPrefix(mediaType, "audio/") || strings.HasPrefix(mediaType, "video/") {
			return mime.FormatMediaType(mediaType, params)
		}
	}
	return echo.MIMEOctetStream
}

// objectReadSeeker lets http.ServeContent serve Range requests from an
// Object Store object, whose reader only reads forward. Seek only records
// the offset; the next Read skips forward to it, or reopens the object when
// it lies behind. parseMediaRanges hands ServeContent sorted, disjoint
// ranges, so one request reads the object at most once, from its start up
// to the last range's end, which is fine for recordings of a few megabytes.
type objectReadSeeker struct {
	ctx    context.Context
	store  jetstream.ObjectStore
	name   string
	size   int64
	offset int64
	// r reads the object from position pos; nil until the first Read, and
	// again after a Seek away from pos.
	r   jetstream.ObjectResult
	pos int64
}

func (o *objectReadSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.offset
	case io.SeekEnd:
		offset += o.size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	o.offset = offset
	return offset, nil
}

func (o *objectReadSeeker) Read(p []byte) (int, error) {
	if o.offset >= o.size {
		return 0, io.EOF
	}
	if o.r != nil && o.pos > o.offset {
		o.Close()
	}
	if o.r == nil {
		r, err := o.store.Get(o.ctx, o.name)
		if err != nil {
			return 0, fmt.Errorf("read media %s: %w", o.name, err)
		}
		o.r, o.pos = r, 0
	}
	if o.pos < o.offset {
		if _, err := io.CopyN(io.Discard, o.r, o.offset-o.pos); err != nil {
			return 0, fmt.Errorf("skip to byte %d of media %s: %w", o.offset, o.name, err)
		}
		o.pos = o.offset
	}
	n, err := o.r.Read(p)
	o.pos += int64(n)
	o.offset = o.pos
	return n, err
}

// Close releases the object reader, if one is open.
func (o *objectReadSeeker) Close() error {
	if o.r == nil {
		return nil
	}
	err := o.r.Close()
	o.r = nil
	return err
}
