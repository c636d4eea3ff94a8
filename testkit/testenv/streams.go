package testenv

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamMsgs returns how many messages stream holds now, failing t when
// the stream cannot be read.
func StreamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	_, info := streamInfo(t, js, stream)
	return info.State.Msgs
}

// StoredMsgs returns every message stream holds now, oldest first.
func StoredMsgs(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, info := streamInfo(t, js, stream)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("get %s #%d: %v", stream, seq, err)
		}
		out = append(out, m)
	}
	return out
}

func streamInfo(t testing.TB, js jetstream.JetStream, stream string) (jetstream.Stream, *jetstream.StreamInfo) {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return s, info
}
