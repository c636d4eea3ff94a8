package validation

import (
	"encoding/json"
	"testing"
)

func TestViolations(t *testing.T) {
	t.Parallel()
	var v Violations
	if !v.Empty() {
		t.Fatal("zero value is not empty")
	}
	v.Addf("call_statuses", RuleEnum, `"parked" is not allowed`)
	v.Addf("call_statuses", RuleEnum, `"held" is not allowed`)
	v.Add("retries", RuleMaximum, Rule{Message: "must be at most 10", Target: 10})
	v.Addf("call_statuses", RuleNotAllowed, "only for call hooks")

	if got := v.Summary(); got != "call_statuses (enum, not_allowed), retries (maximum)" {
		t.Fatalf("summary %q", got)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"call_statuses":{"enum":{"message":"\"parked\" is not allowed; \"held\" is not allowed"},"not_allowed":{"message":"only for call hooks"}},"retries":{"maximum":{"message":"must be at most 10","target":10}}}`
	if string(b) != want {
		t.Fatalf("JSON %s\nwant %s", b, want)
	}
}
