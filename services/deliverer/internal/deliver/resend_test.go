package deliver_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// TestResendIsNumberedAfterEveryEarlierAttempt: a resend (Delivery.resend_id)
// of a delivery that already succeeded is sent again with the same
// webhook-id, recorded as the next attempt, and not retried when it fails.
func TestResendIsNumberedAfterEveryEarlierAttempt(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, "ok")
	h := startDeliverer(t, options{allow: loopbackAllowed})
	d := newDelivery(h.newHook(t, recv.srv.URL, 2))
	h.publish(t, d)
	h.waitAcked(t)

	for i, resendID := range []string{"0123456789abcdef", "fedcba9876543210"} {
		resend := proto.Clone(d).(*pbxhooksv1.Delivery)
		resend.ResendId, resend.Retries, resend.CreatedAt = resendID, 0, timestamppb.New(time.Now())
		h.publishAs(t, resend, bus.ResendMsgID(resendID, d.Id))
		h.waitAcked(t)
		rows := h.attemptsOf(t, d)
		if len(rows) != i+2 {
			t.Fatalf("after resend %d: %d attempt rows, want %d", i+1, len(rows), i+2)
		}
		last := rows[len(rows)-1]
		if last.Attempt != int32(i+2) || last.Result != "success" || last.RetriesLeft != 0 || last.DeliveryID != d.Id {
			t.Errorf("resend %d recorded as %+v, want attempt %d", i+1, last, i+2)
		}
	}
	got := recv.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	for _, req := range got {
		if req.header.Get("webhook-id") != d.Id || string(req.body) != string(d.Body) {
			t.Errorf("request webhook-id %q body %s, want %q and the original body", req.header.Get("webhook-id"), req.body, d.Id)
		}
	}
}

// TestFailedResendIsNotRetried: a resend is one attempt.
func TestFailedResendIsNotRetried(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusInternalServerError, "down")
	h := startDeliverer(t, options{allow: loopbackAllowed})
	d := newDelivery(h.newHook(t, recv.srv.URL, 0))
	h.publish(t, d)
	h.waitAcked(t)
	resend := proto.Clone(d).(*pbxhooksv1.Delivery)
	resend.ResendId, resend.Retries, resend.CreatedAt = "0123456789abcdef", 0, timestamppb.New(time.Now())
	h.publishAs(t, resend, bus.ResendMsgID(resend.ResendId, d.Id))
	h.waitAcked(t)
	rows := h.attemptsOf(t, d)
	if len(rows) != 2 || rows[1].Attempt != 2 || rows[1].Result != "failure" || rows[1].RetriesLeft != 0 {
		t.Fatalf("attempts %+v, want the failed original and a failed attempt 2 with no retries left", rows)
	}
	if n := len(recv.received()); n != 2 {
		t.Fatalf("receiver got %d requests, want 2", n)
	}
}
