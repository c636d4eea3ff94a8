// Package spool is the connector's bounded on-disk queue: every event read
// from the PBX is appended here first and removed only once JetStream
// acknowledged it, so events survive a NATS outage and a connector restart
// and leave in the order they arrived.
package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrFull reports that an append would take the spool past its bound.
var ErrFull = errors.New("spool: full")

// ErrCorrupt reports a record file this code did not write (or a crash
// cut short); the caller drops it rather than block the queue.
var ErrCorrupt = errors.New("spool: unreadable record")

// Record is one spooled message.
type Record struct {
	Seq     uint64
	Subject string
	// MsgID is the JetStream message id: stable across retries and
	// restarts, so a publish repeated after a lost acknowledgement is
	// stored once.
	MsgID string
	Data  []byte
}

const (
	magic = "PBXSPOOL1\n"
	ext   = ".rec"
)

// Spool is a directory of records, one file each, named by sequence.
type Spool struct {
	dir      string
	maxBytes int64
	runID    string

	mu      sync.Mutex
	entries []entry // oldest first
	bytes   int64
	next    uint64
	ready   chan struct{} // closed and replaced on each append
}

type entry struct {
	seq  uint64
	size int64
}

// Open opens (creating if needed) the spool in dir, bounded to maxBytes of
// records. Records left by an earlier run are kept, in order; files a
// crash left half-written are removed. runID makes message ids unique
// across connector runs that reuse sequence numbers after the spool
// emptied.
func Open(dir string, maxBytes int64, runID string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, runID: runID, next: 1, ready: make(chan struct{})}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, de := range names {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		seqText, ok := strings.CutSuffix(name, ext)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.entries = append(s.entries, entry{seq: seq, size: info.Size()})
		s.bytes += info.Size()
	}
	slices.SortFunc(s.entries, func(a, b entry) int { return cmpUint(a.seq, b.seq) })
	if n := len(s.entries); n > 0 {
		s.next = s.entries[n-1].seq + 1
	}
	return s, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Append stores one message after every other. It fails with ErrFull when
// the spool would exceed its bound; nothing is stored then.
func (s *Spool) Append(subject string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.next
	msgID := s.runID + "-" + strconv.FormatUint(seq, 10)
	var buf bytes.Buffer
	buf.Grow(len(magic) + len(subject) + len(msgID) + len(data) + 2)
	buf.WriteString(magic)
	buf.WriteString(subject + "\n")
	buf.WriteString(msgID + "\n")
	buf.Write(data)
	size := int64(buf.Len())
	if s.bytes+size > s.maxBytes {
		return ErrFull
	}
	path := s.path(seq)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: %w", err)
	}
	s.next++
	s.entries = append(s.entries, entry{seq: seq, size: size})
	s.bytes += size
	close(s.ready)
	s.ready = make(chan struct{})
	return nil
}

// Oldest returns the oldest record, or ok=false and a channel closed at
// the next Append when the spool is empty.
func (s *Spool) Oldest() (rec Record, ok bool, wait <-chan struct{}, err error) {
	s.mu.Lock()
	if len(s.entries) == 0 {
		defer s.mu.Unlock()
		return Record{}, false, s.ready, nil
	}
	seq := s.entries[0].seq
	s.mu.Unlock()
	b, err := os.ReadFile(s.path(seq))
	if err != nil {
		return Record{}, false, nil, fmt.Errorf("spool: %w", err)
	}
	rec, err = decode(seq, b)
	return rec, err == nil, nil, err
}

// Remove drops the oldest record once it is delivered; seq must be its.
func (s *Spool) Remove(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 || s.entries[0].seq != seq {
		return fmt.Errorf("spool: remove %d: not the oldest record", seq)
	}
	if err := os.Remove(s.path(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	s.bytes -= s.entries[0].size
	s.entries = s.entries[1:]
	return nil
}

// RemoveOldest drops the oldest record whatever it holds, for a record
// that cannot be read.
func (s *Spool) RemoveOldest() error {
	s.mu.Lock()
	seq := uint64(0)
	if len(s.entries) > 0 {
		seq = s.entries[0].seq
	}
	s.mu.Unlock()
	if seq == 0 {
		return nil
	}
	return s.Remove(seq)
}

// Len and Bytes report what is spooled.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Bytes is the size of the spooled records.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// MaxBytes is the bound.
func (s *Spool) MaxBytes() int64 { return s.maxBytes }

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, ext))
}

// decode reads a record file; a file this code did not write is an error
// (the forwarder then sets it aside rather than block the queue).
func decode(seq uint64, b []byte) (Record, error) {
	rest, ok := bytes.CutPrefix(b, []byte(magic))
	if !ok {
		return Record{}, fmt.Errorf("%w %d: not a spool record", ErrCorrupt, seq)
	}
	subject, rest, ok1 := bytes.Cut(rest, []byte("\n"))
	msgID, data, ok2 := bytes.Cut(rest, []byte("\n"))
	if !ok1 || !ok2 || len(subject) == 0 || len(msgID) == 0 {
		return Record{}, fmt.Errorf("%w %d: truncated", ErrCorrupt, seq)
	}
	return Record{Seq: seq, Subject: string(subject), MsgID: string(msgID), Data: data}, nil
}
