package tooltest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentgate/agentgate/tool"
)

// Time is what get_time answers, always: tests compare it.
const Time = "2030-01-01T12:00:00Z"

// ServerTools are three server tools written in Go:
//
//	get_time  answers Time;
//	lookup    answers {"found": <its arguments>}, so that a test sees
//	          which arguments reached the tool;
//	transfer  ({"amount": n, "to": "…"}) answers "transferred <amount>
//	          to <to>" ("the landlord" without one), and fails without
//	          an amount. It is the tool tests name in TOOL_APPROVAL, so
//	          that its calls wait for a person's yes.
func ServerTools() *tool.Set {
	set, err := tool.NewSet(
		tool.Tool{
			Def: tool.Def{Name: "get_time", Description: "The current time, in UTC.",
				Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: Time}, nil
			},
		},
		tool.Tool{
			Def: tool.Def{Name: "lookup", Description: "Looks something up.", Parameters: json.RawMessage(`{"type":"object"}`)},
			Run: func(_ context.Context, args json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: `{"found":` + string(args) + `}`}, nil
			},
		},
		tool.Tool{
			Def: tool.Def{Name: "transfer", Description: "Transfers money. A person approves each transfer.",
				Parameters: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"},"to":{"type":"string"}},"required":["amount"]}`)},
			Run: transfer,
		},
	)
	if err != nil {
		panic(err) // the definitions above are valid: TestServerTools
	}
	return set
}

func transfer(_ context.Context, raw json.RawMessage) (tool.Result, error) {
	var t struct {
		Amount json.Number `json:"amount"`
		To     string      `json:"to"`
	}
	if err := json.Unmarshal(raw, &t); err != nil || t.Amount == "" {
		return tool.Result{Output: "transfer needs an amount", IsError: true}, nil
	}
	if t.To == "" {
		t.To = "the landlord"
	}
	return tool.Result{Output: fmt.Sprintf("transferred %s to %s", t.Amount, t.To)}, nil
}
