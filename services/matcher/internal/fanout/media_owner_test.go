package fanout_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// putMedia stores a media object as ingest does, owned by account (none
// when empty, as a file a PBX put over NATS).
func (p *pipeline) putMedia(t *testing.T, mediaID, account string) {
	t.Helper()
	obs, err := bus.EnsureMediaBucket(t.Context(), p.js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	meta := jetstream.ObjectMeta{Name: mediaID}
	if account != "" {
		meta.Metadata = map[string]string{bus.MediaMetaAccountID: account}
	}
	if _, err := obs.Put(t.Context(), meta, strings.NewReader("recording "+mediaID)); err != nil {
		t.Fatal(err)
	}
}

// TestMediaLinkOnlyForTheAccountsOwnFile: the matcher signs a download link
// only for a file the event's account owns. An event naming another
// account's file, a file nobody owns or no file at all still reaches the
// account's media hooks (the call happened) but without attachments.
func TestMediaLinkOnlyForTheAccountsOwnFile(t *testing.T) {
	t.Parallel()
	acct, other := newID("acct"), newID("other")
	p := startPipeline(t, func(q *store.Queries) {
		createHook(t, q, acct, event.HookMedia, nil)
	})
	own, others, nobodys := newID("own"), newID("theirs"), newID("nobody")
	p.putMedia(t, own, acct)
	p.putMedia(t, others, other)
	p.putMedia(t, nobodys, "")

	cases := map[string]string{own: "own", others: "another account's", nobodys: "nobody's", newID("missing"): "missing"}
	for mediaID := range cases {
		ev := &pbxhooksv1.Event{
			Id: newID("ev"), AccountId: acct, Kind: event.KindMedia, Source: "native",
			OccurredAt: timestamppb.Now(), CallId: "call-" + mediaID,
			Media: &pbxhooksv1.Media{Type: event.MediaVoicemail, MediaId: mediaID, ObjectName: mediaID, Filename: "vm.mp3"},
		}
		p.waitEventAcked(t, p.publishEvent(t, ev, ev.Id))
	}
	got := p.deliveries(t)
	if len(got) != len(cases) {
		t.Fatalf("%d deliveries, want one per event (%d)", len(got), len(cases))
	}
	for _, sd := range got {
		var body map[string]any
		if err := json.Unmarshal(sd.d.Body, &body); err != nil {
			t.Fatal(err)
		}
		mediaID := strings.TrimPrefix(body["id"].(string), "call-")
		link, hasLink := body["attachments"].(string)
		switch {
		case mediaID == own && (!hasLink || !strings.Contains(link, "/v1/media/"+own+"?")):
			t.Errorf("own file: attachments %q, want its link", link)
		case mediaID != own && hasLink:
			t.Errorf("%s file %s: attachments %q, want none", cases[mediaID], mediaID, link)
		}
	}
}
