package media_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func mediaEvent(account, mediaID string, size int64, sha string) *pbxhooksv1.Event {
	return &pbxhooksv1.Event{
		Id: "ev-" + mediaID, AccountId: account, Kind: event.KindMedia,
		Media: &pbxhooksv1.Media{Type: event.MediaCallRecording, MediaId: mediaID, SizeBytes: size, Sha256: sha},
	}
}

// TestAttachAcceptsOnlyTheAccountsOwnMedia is the reported leak at its
// source: account A's event named account B's recording (or one a PBX put
// into the bucket itself, which belongs to no account) and was accepted,
// so A's hooks got a working link to it. Now only the account that stored a
// file may name it, and every refusal reads as the one for a missing file:
// no size or digest comparison tells A anything about B's file.
func TestAttachAcceptsOnlyTheAccountsOwnMedia(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	obs, err := bus.EnsureMediaBucket(t.Context(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	store, err := media.New(obs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// B's recording, stored as ingest stores an upload.
	recB, err := store.Put(t.Context(), strings.NewReader("account B's call"), "b.mp3", "audio/mpeg")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Describe(t.Context(), recB.MediaID, "acct-b", "b.mp3", "audio/mpeg"); err != nil {
		t.Fatal(err)
	}
	// A file a PBX put into the bucket over NATS: nobody's.
	if _, err := obs.PutBytes(t.Context(), "pbx-put", []byte("put over NATS")); err != nil {
		t.Fatal(err)
	}

	own := mediaEvent("acct-b", recB.MediaID, 0, "")
	if err := store.Attach(t.Context(), own); err != nil {
		t.Fatalf("B names its own recording: %v", err)
	}
	if own.GetMedia().GetSizeBytes() != recB.SizeBytes || own.GetMedia().GetSha256() != recB.SHA256 {
		t.Errorf("B's event got %v, want the stored size and digest", own.GetMedia())
	}

	refusal := func(ev *pbxhooksv1.Event) *adapter.ValidationError {
		t.Helper()
		err := store.Attach(t.Context(), ev)
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("%s naming %s: %v, want a validation error", ev.GetAccountId(), ev.GetMedia().GetMediaId(), err)
		}
		if ev.GetMedia().GetObjectName() != "" {
			t.Fatalf("a refused event was filled in: %v", ev.GetMedia())
		}
		return verr
	}
	// What a missing file gets, with the id swapped for comparison.
	missing := refusal(mediaEvent("acct-a", "never-stored", 0, ""))
	for name, ev := range map[string]*pbxhooksv1.Event{
		"B's recording":              mediaEvent("acct-a", recB.MediaID, 0, ""),
		"B's recording, wrong size":  mediaEvent("acct-a", recB.MediaID, recB.SizeBytes+1, ""),
		"B's recording, its size":    mediaEvent("acct-a", recB.MediaID, recB.SizeBytes, strings.Repeat("0", 64)),
		"a file put over NATS":       mediaEvent("acct-a", "pbx-put", 0, ""),
		"a file put over NATS (B's)": mediaEvent("acct-b", "pbx-put", 0, ""),
	} {
		got := refusal(ev)
		want := &adapter.ValidationError{Fields: append([]adapter.FieldError(nil), missing.Fields...)}
		want.Fields[0].Message = strings.Replace(want.Fields[0].Message, `"never-stored"`, `"`+ev.GetMedia().GetMediaId()+`"`, 1)
		if !reflect.DeepEqual(got.Fields, want.Fields) {
			t.Errorf("%s: refused with %+v, want exactly what a missing file gets: %+v", name, got.Fields, want.Fields)
		}
	}
}
