package console

import (
	"net/http"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/scenario"
)

type simulatePage struct {
	Scenarios  []string
	Directions []string
	Scenario   string
	From, To   string
	Direction  string
	Result     *simulated
	Problem    *apiError
}

// simulated is the API's answer to a simulation: the test call's ids and
// the callbacks a hook of each kind should get.
type simulated struct {
	Scenario  string `json:"scenario"`
	CallID    string `json:"call_id"`
	ThreadID  string `json:"thread_id"`
	Direction string `json:"direction"`
	Callbacks []struct {
		Kind      string `json:"kind"`
		Lifecycle string `json:"lifecycle"`
		CallType  string `json:"call_type"`
		Status    string `json:"status"`
		MediaType string `json:"media_type"`
	} `json:"callbacks"`
}

func newSimulatePage() simulatePage {
	return simulatePage{Scenarios: scenario.Names, Directions: []string{event.DirectionInbound, event.DirectionOutbound},
		Scenario: scenario.MissedCall, Direction: event.DirectionInbound}
}

func (c *Console) simulateForm(rq *request) {
	rq.render(http.StatusOK, "simulate", "Call simulator", newSimulatePage())
}

// simulate runs a scenario through ingest for the account (the API's
// simulate route; the calls are marked as tests) and shows what it sent.
func (c *Console) simulate(rq *request) {
	page := newSimulatePage()
	p := rq.r.PostForm
	page.Scenario, page.Direction = p.Get("scenario"), p.Get("direction")
	page.From, page.To = strings.TrimSpace(p.Get("from")), strings.TrimSpace(p.Get("to"))
	doc := map[string]any{"scenario": page.Scenario, "direction": page.Direction}
	if page.From != "" {
		doc["from"] = page.From
	}
	if page.To != "" {
		doc["to"] = page.To
	}
	var env envelope[simulated]
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "simulate"), nil, doc, nil, &env); err != nil {
		if page.Problem = invalid(err); page.Problem == nil {
			rq.fail(err)
			return
		}
		rq.render(http.StatusBadRequest, "simulate", "Call simulator", page)
		return
	}
	page.Result = &env.Data
	rq.render(http.StatusOK, "simulate", "Call simulator", page)
}
