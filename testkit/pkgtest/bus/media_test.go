package bus_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestEnsureMediaBucketIsIdempotent(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	if _, err := bus.EnsureMediaBucket(t.Context(), js, time.Hour, 1); err != nil {
		t.Fatal(err)
	}
	obs, err := bus.EnsureMediaBucket(t.Context(), js, 2*time.Hour, 1)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	st, err := obs.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != bus.MediaBucket || st.TTL() != 2*time.Hour {
		t.Errorf("bucket %q ttl %s, want %q with the updated ttl 2h", st.Bucket(), st.TTL(), bus.MediaBucket)
	}
}

func TestOwnedMediaIsOnlyTheOwnersAndAllElseIsNotFound(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	obs, err := bus.EnsureMediaBucket(t.Context(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, meta map[string]string) {
		t.Helper()
		if _, err := obs.Put(t.Context(), jetstream.ObjectMeta{Name: name, Metadata: meta}, strings.NewReader("recording of "+name)); err != nil {
			t.Fatal(err)
		}
	}
	put("rec-b", map[string]string{bus.MediaMetaAccountID: "acct-b"})
	put("rec-nobody", nil)
	put("rec-gone", map[string]string{bus.MediaMetaAccountID: "acct-a"})
	if err := obs.Delete(t.Context(), "rec-gone"); err != nil {
		t.Fatal(err)
	}

	info, err := bus.OwnedMedia(t.Context(), obs, "rec-b", "acct-b")
	if err != nil || info.Size != uint64(len("recording of rec-b")) {
		t.Fatalf("the owner's own object: %v, %v", info, err)
	}
	for _, tc := range []struct{ id, account string }{
		{"rec-b", "acct-a"},      // another account's
		{"rec-nobody", "acct-a"}, // nobody's: put without an owner
		{"rec-nobody", ""},
		{"rec-gone", "acct-a"}, // deleted
		{"never-stored", "acct-a"},
	} {
		if info, err := bus.OwnedMedia(t.Context(), obs, tc.id, tc.account); !errors.Is(err, bus.ErrMediaNotFound) || info != nil {
			t.Errorf("%s for %q: %v, %v; want ErrMediaNotFound and nothing else", tc.id, tc.account, info, err)
		}
	}
}

func TestMediaLinksMustNotOutliveTheMediaBucket(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	links := medialink.Config{TTL: 48 * time.Hour}
	if err := links.CheckMediaBucket(t.Context(), js); err != nil {
		t.Fatalf("no media bucket yet: %v, want the check to pass until ingest creates it", err)
	}
	if _, err := bus.EnsureMediaBucket(t.Context(), js, 24*time.Hour, 1); err != nil {
		t.Fatal(err)
	}
	if ttl, err := bus.MediaBucketTTL(t.Context(), js); err != nil || ttl != 24*time.Hour {
		t.Fatalf("MediaBucketTTL = %s, %v; want 24h", ttl, err)
	}
	err := links.CheckMediaBucket(t.Context(), js)
	if err == nil || !strings.Contains(err.Error(), "MEDIA_LINK_TTL") || !strings.Contains(err.Error(), "INGEST_MEDIA_TTL") {
		t.Fatalf("48h links on a 24h bucket: %v, want an error naming both variables", err)
	}
	links.TTL = 24 * time.Hour
	if err := links.CheckMediaBucket(t.Context(), js); err != nil {
		t.Fatalf("24h links on a 24h bucket: %v", err)
	}
}
