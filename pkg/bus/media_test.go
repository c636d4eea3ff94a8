package bus_test

import (
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/testenv"
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
