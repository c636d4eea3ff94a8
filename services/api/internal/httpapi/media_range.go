package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxMediaRanges bounds the parts of one ranged media answer, after
// overlapping and adjacent ranges are merged. Players ask for one range;
// hundreds of tiny ones only make the server seek and frame.
const maxMediaRanges = 16

// byteRange is one satisfiable range of a media object, both ends
// included.
type byteRange struct{ first, last int64 }

// errRangeNotSatisfiable and errRangeMalformed make a 416: no requested
// range overlaps the object, or the header is not a byte-range set.
var (
	errRangeNotSatisfiable = errors.New("no requested range overlaps the media")
	errRangeMalformed      = errors.New("malformed Range header")
)

// errTooManyRanges says how many ranges the client asked for.
type errTooManyRanges struct{ n int }

func (e errTooManyRanges) Error() string {
	return fmt.Sprintf("the Range header asks for %d separate ranges; at most %d are served", e.n, maxMediaRanges)
}

// parseMediaRanges reads a Range header (RFC 9110 §14.1.2) against an object
// of size bytes and returns the ranges to serve, sorted, with overlapping and
// adjacent ones merged, so the object is read once, front to back, and
// at most maxMediaRanges parts are framed. A nil result with a nil error
// means "serve the whole object": no header, or a unit other than bytes,
// which RFC 9110 says to ignore.
//
// Unlike net/http it refuses (416) what it cannot serve as asked: a suffix
// of zero bytes ("bytes=-0", which net/http answers with a 206 and an
// impossible Content-Range), a range set of which nothing overlaps, a
// malformed set, and more than maxMediaRanges ranges after merging.
func parseMediaRanges(header string, size int64) ([]byteRange, error) {
	if header == "" {
		return nil, nil
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok {
		return nil, errRangeMalformed
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, nil
	}
	var ranges []byteRange
	specs := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		if specs++; specs > maxRangeSpecs {
			return nil, errTooManyRanges{n: strings.Count(set, ",") + 1}
		}
		r, satisfiable, err := parseRangeSpec(spec, size)
		if err != nil {
			return nil, err
		}
		if satisfiable {
			ranges = append(ranges, r)
		}
	}
	if specs == 0 {
		return nil, errRangeMalformed
	}
	if len(ranges) == 0 {
		return nil, errRangeNotSatisfiable
	}
	ranges = coalesceRanges(ranges)
	if len(ranges) > maxMediaRanges {
		return nil, errTooManyRanges{n: len(ranges)}
	}
	return ranges, nil
}

// maxRangeSpecs bounds how many range specs are read at all: past it the
// answer is 416 whatever they are.
const maxRangeSpecs = 1000

// parseRangeSpec reads "first-last", "first-" or "-suffix". A well-formed
// spec that selects no byte of the object is not satisfiable (and not an
// error: another spec of the set may be).
func parseRangeSpec(spec string, size int64) (byteRange, bool, error) {
	firstText, lastText, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, false, errRangeMalformed
	}
	firstText, lastText = strings.TrimSpace(firstText), strings.TrimSpace(lastText)
	if firstText == "" {
		suffix, ok := rangeNumber(lastText)
		if !ok {
			return byteRange{}, false, errRangeMalformed
		}
		if suffix == 0 || size == 0 {
			return byteRange{}, false, nil
		}
		return byteRange{first: max(size-suffix, 0), last: size - 1}, true, nil
	}
	first, ok := rangeNumber(firstText)
	if !ok {
		return byteRange{}, false, errRangeMalformed
	}
	last := int64(-1)
	if lastText != "" {
		if last, ok = rangeNumber(lastText); !ok || last < first {
			return byteRange{}, false, errRangeMalformed
		}
	}
	if first >= size {
		return byteRange{}, false, nil
	}
	if last < 0 || last >= size {
		last = size - 1
	}
	return byteRange{first: first, last: last}, true, nil
}

// rangeNumber reads the digits of a range position; a number too large for
// int64 is as good as "past the end".
func rangeNumber(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 1<<63 - 1, true
	}
	return n, err == nil
}

// coalesceRanges sorts ranges and merges those that overlap or touch.
func coalesceRanges(ranges []byteRange) []byteRange {
	slices.SortFunc(ranges, func(a, b byteRange) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	out := ranges[:1]
	for _, r := range ranges[1:] {
		last := &out[len(out)-1]
		if r.first <= last.last+1 {
			last.last = max(last.last, r.last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// rangeHeader writes ranges back as a Range header, for http.ServeContent:
// it then serves exactly these, already checked, in order.
func rangeHeader(ranges []byteRange) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i, r := range ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d-%d", r.first, r.last)
	}
	return b.String()
}

// errorStatusCatcher keeps http.ServeContent's own error answers (a
// failed If-Match is a plain-text 412) off the wire, so the handler can
// answer them in the API's error format instead.
type errorStatusCatcher struct {
	http.ResponseWriter
	status int
}

func (w *errorStatusCatcher) WriteHeader(code int) {
	if code >= http.StatusBadRequest {
		w.status = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorStatusCatcher) Write(b []byte) (int, error) {
	if w.status != 0 {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
