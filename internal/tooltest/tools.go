package tooltest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentgate/agentgate/tool"
)

// Time is what get_time answers, always: tests compare it.
const Time = "2030-01-01T12:00:00Z"

// ServerTools are two server tools written in Go: get_time, which answers
// Time, and transfer ({"amount": n, "to": "…"}), which answers
// "transferred <amount> to <to>" and is the one a test names in
// TOOL_APPROVAL, so that its calls wait for a person's yes.
func ServerTools() (*tool.Set, error) {
	return tool.NewSet(
		tool.Tool{
			Def: tool.Def{Name: "get_time", Description: "The current time, in UTC.",
				Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: Time}, nil
			},
		},
		tool.Tool{
			Def: tool.Def{Name: "transfer", Description: "Transfers money. A person approves each transfer.",
				Parameters: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"},"to":{"type":"string"}},"required":["amount"]}`)},
			Run: func(_ context.Context, raw json.RawMessage) (tool.Result, error) {
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
			},
		},
	)
}
