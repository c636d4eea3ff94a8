package status

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

func TestDeriveLifecycles(t *testing.T) {
	t.Parallel()
	in, out := event.CallTypeIncoming, event.CallTypeOutgoing
	tests := []struct {
		name string
		call Call
		want string
	}{
		{"create rings", Call{Lifecycle: event.LifecycleChannelCreate, CallType: in}, event.StatusRinging},
		{"outgoing create rings", Call{Lifecycle: event.LifecycleChannelCreate, CallType: out}, event.StatusRinging},
		{"answer", Call{Lifecycle: event.LifecycleChannelAnswer, CallType: in}, event.StatusAnswered},
		{"bridge", Call{Lifecycle: event.LifecycleChannelBridge, CallType: out}, event.StatusAnswered},
		{"answered hangup ends", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, Answered: true, HangupCause: "NORMAL_CLEARING"}, event.StatusEnded},
		{"answered wins over busy cause", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, Answered: true, HangupCause: "USER_BUSY"}, event.StatusEnded},
		{"answered wins over lost race", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, Answered: true, Q850: 26}, event.StatusEnded},
		{"name in any case and padded", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: out, HangupCause: " user_busy "}, event.StatusBusy},
		{"name wins over q850", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "LOSE_RACE", Q850: 16}, event.StatusNone},
		{"unknown name falls back to q850", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "SOMETHING_NEW", Q850: 17}, event.StatusBusy},
		{"number as cause", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "21"}, event.StatusRejected},
		{"unknown number as cause falls back to q850", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "99", Q850: 1}, event.StatusInvalid},
		{"unknown unanswered cause", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "NORMAL_UNSPECIFIED", Q850: 31}, event.StatusNoAnswer},
		{"no cause unanswered", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in}, event.StatusNoAnswer},
		{"unknown lifecycle", Call{Lifecycle: "channel_park", CallType: in}, event.StatusNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Derive(tt.call); got != tt.want {
				t.Errorf("Derive(%+v) = %q, want %q", tt.call, got, tt.want)
			}
		})
	}
}

// expectedUnanswered is written out by hand, independently of the table in
// status.go, so a mistake there fails here: the cause names and numbers of
// every row, and the status of a never-answered incoming and outgoing leg.
var expectedUnanswered = []struct {
	names         []string
	numbers       []int
	incoming, out string
}{
	{[]string{"USER_BUSY", "BUSY_EVERYWHERE"}, []int{17, 815}, event.StatusBusy, event.StatusBusy},
	{[]string{"NO_ANSWER", "NO_USER_RESPONSE", "RECOVERY_ON_TIMER_EXPIRE", "ALLOTTED_TIMEOUT", "PROGRESS_TIMEOUT"}, []int{19, 18, 102, 802, 807}, event.StatusNoAnswer, event.StatusNoAnswer},
	{[]string{"CALL_REJECTED", "DECLINE"}, []int{21, 816}, event.StatusRejected, event.StatusRejected},
	{[]string{"UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION", "NUMBER_CHANGED", "INVALID_NUMBER_FORMAT", "INVALID_URL", "DOES_NOT_EXIST_ANYWHERE"}, []int{1, 2, 3, 22, 28, 810, 817}, event.StatusInvalid, event.StatusInvalid},
	{[]string{"SUBSCRIBER_ABSENT", "USER_NOT_REGISTERED", "DESTINATION_OUT_OF_ORDER", "NORMAL_CIRCUIT_CONGESTION", "NETWORK_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "REQUESTED_CHAN_UNAVAIL", "SERVICE_UNAVAILABLE", "GATEWAY_DOWN"}, []int{20, 806, 27, 34, 38, 41, 42, 44, 63, 809}, event.StatusNotAvailable, event.StatusNotAvailable},
	{[]string{"OUTGOING_CALL_BARRED", "INCOMING_CALL_BARRED", "BEARERCAPABILITY_NOTAUTH", "UNWANTED"}, []int{52, 54, 57, 819}, event.StatusBlocked, event.StatusBlocked},
	{[]string{"ORIGINATOR_CANCEL", "NORMAL_CLEARING"}, []int{487, 16}, event.StatusMissed, event.StatusNoAnswer},
	{[]string{"ANSWERED_ELSEWHERE", "LOSE_RACE", "PICKED_OFF"}, []int{26, 702, 805}, event.StatusNone, event.StatusNone},
}

// TestDeriveEveryCause checks every name and every number of every row, for
// both call types, answered and not, and as a name, a number in the cause
// field and a separate Q.850 number.
func TestDeriveEveryCause(t *testing.T) {
	t.Parallel()
	rows := 0
	for _, row := range expectedUnanswered {
		check := func(label string, c Call) {
			t.Helper()
			for callType, want := range map[string]string{event.CallTypeIncoming: row.incoming, event.CallTypeOutgoing: row.out} {
				c.Lifecycle, c.CallType, c.Answered = event.LifecycleChannelDestroy, callType, false
				if got := Derive(c); got != want {
					t.Errorf("%s, %s, never answered: got %q, want %q", label, callType, got, want)
				}
				c.Answered = true
				if got := Derive(c); got != event.StatusEnded {
					t.Errorf("%s, %s, answered: got %q, want ended", label, callType, got)
				}
			}
		}
		for _, name := range row.names {
			check("name "+name, Call{HangupCause: name})
			check("lower-case name "+name, Call{HangupCause: strings.ToLower(name)})
			rows++
		}
		for _, n := range row.numbers {
			check("cause "+strconv.Itoa(n), Call{HangupCause: strconv.Itoa(n)})
			check("q850 "+strconv.Itoa(n), Call{Q850: n})
			rows++
		}
	}
	// Every entry of the implementation's table is covered above.
	entries := 0
	for _, c := range unansweredCauses {
		entries += len(c.names) + len(c.numbers)
	}
	if entries != rows {
		t.Errorf("status.go has %d cause entries; the test checks %d", entries, rows)
	}
}

// TestStatusDocumentNamesEveryCause keeps docs/STATUS.md in step with the
// table: every cause name and number must appear in it.
func TestStatusDocumentNamesEveryCause(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../../docs/STATUS.md")
	if err != nil {
		t.Fatalf("read docs/STATUS.md: %v", err)
	}
	text := string(doc)
	for _, c := range unansweredCauses {
		for _, name := range c.names {
			if !strings.Contains(text, "`"+name+"`") {
				t.Errorf("docs/STATUS.md does not mention `%s`", name)
			}
		}
		for _, n := range c.numbers {
			if !strings.Contains(text, " "+strconv.Itoa(n)+" ") && !strings.Contains(text, " "+strconv.Itoa(n)+",") {
				t.Errorf("docs/STATUS.md does not mention cause number %d", n)
			}
		}
	}
}
