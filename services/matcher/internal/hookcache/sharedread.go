package hookcache

import (
	"context"
	"sync"
)

// sharedRead shares one read among every caller that asked before the read
// was sent: a caller joins the next read not yet sent, never one already in
// flight, so the answer it gets was read after it asked. Under load one
// read serves many Lookups; when nobody asks, nothing is read.
type sharedRead struct {
	read1 func(context.Context) (uint64, error)

	mu      sync.Mutex
	next    *readRound // callers gathered for the read not yet sent
	reading bool       // a loop is sending reads
}

type readRound struct {
	done  chan struct{}
	value uint64
	err   error
}

// read returns a value read after the call began.
func (s *sharedRead) read(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	r := s.next
	if r == nil {
		r = &readRound{done: make(chan struct{})}
		s.next = r
	}
	if !s.reading {
		s.reading = true
		go s.loop()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.value, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop sends one read per gathered round until no caller is waiting. The
// reads are not tied to any caller's context: a round serves many.
func (s *sharedRead) loop() {
	for {
		s.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.reading = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		r.value, r.err = s.read1(context.Background())
		close(r.done)
	}
}
