package attempts

import (
	"testing"
	"time"
)

func TestFilterParamsRefusesUnknownResult(t *testing.T) {
	t.Parallel()
	if _, err := (&filter{result: "maybe"}).params(time.Now()); err == nil {
		t.Error("--result maybe accepted")
	}
	p, err := (&filter{result: "failure", since: "1h"}).params(time.Now())
	if err != nil || p.result == nil || *p.result != "failure" || p.from == nil {
		t.Errorf("params %+v, %v", p, err)
	}
}
