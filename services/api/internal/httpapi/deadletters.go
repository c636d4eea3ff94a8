package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

// Dead-letter listing bounds. A dead letter may be a megabyte; the body is
// shown truncated and pages are smaller than attempt pages.
const (
	DefaultDeadLetterPageSize = 20
	MaxDeadLetterPageSize     = 100
	// MaxDeadLetterBodyBytes is how much of a rejected body is shown.
	MaxDeadLetterBodyBytes = 4 << 10
)

// deadLetterJSON is one rejected input of the account, with why.
type deadLetterJSON struct {
	// ID is the DEADLETTER stream sequence, also the page key.
	ID       string `json:"id"`
	Reason   string `json:"reason"`
	Source   string `json:"source"`
	Received string `json:"received"`
	// Body is the rejected input as text: at most MaxDeadLetterBodyBytes,
	// invalid UTF-8 replaced by U+FFFD.
	Body      string `json:"body"`
	SizeBytes int    `json:"size_bytes"`
	Truncated bool   `json:"truncated"`
}

// listDeadLetters pages through the account's dead letters on
// pbx.deadletter.<account_id>, newest first; start_key is a stream
// sequence and the page holds it and older ones.
//
// JetStream looks messages of a subject up forward only, so a page is found
// by scanning windows of stream sequences backwards from the start, each
// by message lookups (see scanDeadLetters): no consumer is created, so a
// listing leaves nothing behind on the server.
func (s *Server) listDeadLetters(c echo.Context) error {
	p, err := parsePageWithin(c, DefaultDeadLetterPageSize, MaxDeadLetterPageSize)
	if err != nil {
		return err
	}
	size, startKey := p.size, uint64(p.startKey)
	ctx := c.Request().Context()
	subject := bus.DeadLetterSubject(c.Param("account_id"))
	stream, err := s.js.Stream(ctx, bus.StreamDeadLetter)
	if err != nil {
		return errUnavailable("look up the dead-letter stream", err)
	}
	upper := startKey
	if upper == 0 {
		last, err := stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return respondDeadLetters(c, nil, 0, "")
		}
		if err != nil {
			return errUnavailable("read the newest dead letter", err)
		}
		upper = last.Sequence
	}
	newest, err := newestDeadLetters(ctx, stream, subject, upper, size+1)
	if err != nil {
		return errUnavailable("read dead letters", err)
	}
	next := ""
	if len(newest) > size {
		next = newest[size].ID
		newest = newest[:size]
	}
	return respondDeadLetters(c, newest, startKey, next)
}

func respondDeadLetters(c echo.Context, items []deadLetterJSON, startKey uint64, next string) error {
	if items == nil {
		items = []deadLetterJSON{}
	}
	n := len(items)
	env := envelope{Data: items, PageSize: &n, NextStartKey: next}
	if startKey > 0 {
		env.StartKey = strconv.FormatUint(startKey, 10)
	}
	return respond(c, http.StatusOK, env)
}

// newestDeadLetters returns up to want dead letters on subject with a
// sequence at most upper, newest first. The first window spans want
// sequences and each next one four times more, so a dense subject reads
// little more than a page and a sparse one a logarithmic number of windows.
func newestDeadLetters(ctx context.Context, stream jetstream.Stream, subject string, upper uint64, want int) ([]deadLetterJSON, error) {
	first := max(stream.CachedInfo().State.FirstSeq, 1)
	var newerFirst []deadLetterJSON // newest first, across windows
	hi := upper
	window := uint64(want)
	for hi >= first && hi > 0 && len(newerFirst) < want {
		lo := first
		if hi-first+1 > window {
			lo = hi - window + 1
		}
		part, err := scanDeadLetters(ctx, stream, subject, lo, hi, want-len(newerFirst))
		if err != nil {
			return nil, err
		}
		slices.Reverse(part)
		newerFirst = append(newerFirst, part...)
		if lo == first {
			break
		}
		hi = lo - 1
		window *= 4
	}
	return newerFirst, nil
}

// scanDeadLetters reads subject's messages with sequences in [lo, hi] and
// keeps the newest keep of them, oldest first. Each is one stream message
// lookup ("the next message on subject from this sequence"), so a listing
// creates no consumer and reads only the account's own letters: at most as
// many as the window holds.
func scanDeadLetters(ctx context.Context, stream jetstream.Stream, subject string, lo, hi uint64, keep int) ([]deadLetterJSON, error) {
	var kept []deadLetterJSON
	for seq := lo; seq <= hi; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the dead letter from sequence %d: %w", seq, err)
		}
		if msg.Sequence > hi {
			break
		}
		kept = append(kept, renderDeadLetter(msg))
		if len(kept) > keep {
			kept = kept[1:]
		}
		seq = msg.Sequence + 1
	}
	return kept, nil
}

func renderDeadLetter(msg *jetstream.RawStreamMsg) deadLetterJSON {
	body, truncated := textPrefix(msg.Data, MaxDeadLetterBodyBytes)
	return deadLetterJSON{
		ID:        strconv.FormatUint(msg.Sequence, 10),
		Reason:    strings.ToValidUTF8(msg.Header.Get(bus.HeaderDeadLetterReason), "\uFFFD"),
		Source:    strings.ToValidUTF8(msg.Header.Get(bus.HeaderDeadLetterSource), "\uFFFD"),
		Received:  msg.Time.UTC().Format(time.RFC3339Nano),
		Body:      body,
		SizeBytes: len(msg.Data),
		Truncated: truncated,
	}
}

// textPrefix is data as valid UTF-8 (bad bytes become U+FFFD) in at most
// limit bytes, cut on a character boundary; truncated says whether
// anything was left out.
func textPrefix(data []byte, limit int) (string, bool) {
	// Replacement changes the length (a run of bad bytes becomes one
	// 3-byte U+FFFD), so sanitise a bounded prefix first, then cut.
	head := data[:min(len(data), limit+utf8.UTFMax)]
	text := strings.ToValidUTF8(string(head), "\uFFFD")
	truncated := len(head) < len(data)
	if len(text) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text, truncated = text[:cut], true
	}
	return text, truncated
}

// errUnavailable reports that NATS could not answer: retrying may help.
func errUnavailable(what string, err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Message: "could not " + what + "; try again shortly", Err: err}
}
