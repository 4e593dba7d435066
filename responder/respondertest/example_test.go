package respondertest_test

import (
	"context"
	"fmt"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// A responder that looks the weather up with a tool before it answers.
func weather(_ context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	for _, write := range []func() error{
		func() error { return out.Text("Let me look. ") },
		func() error { return out.ToolCallStart("call-1", "get_weather") },
		func() error { return out.ToolCallArgs("call-1", `{"city":`) },
		func() error { return out.ToolCallArgs("call-1", `"`+req.Message.Text+`"}`) },
		func() error { return out.ToolCallEnd("call-1") },
		func() error { return out.ToolCallResult("call-1", "12°C, rain") },
		func() error { return out.Text("It rains in " + req.Message.Text + ".") },
	} {
		if err := write(); err != nil {
			return responder.Result{}, err
		}
	}
	return responder.Result{FinishReason: responder.FinishStop}, nil
}

func Example() {
	out := respondertest.Run(context.Background(), responder.Func(weather), respondertest.NewRequest("Oslo"))
	if out.Err != nil || out.Stream.Check() != nil {
		fmt.Println("failed:", out.Err, out.Stream.Check())
	}
	reply := out.Stream.Reply()
	fmt.Println(reply.Text)
	for _, tc := range reply.ToolCalls {
		fmt.Println(tc.Name, tc.Arguments, "→", tc.Result)
	}
	fmt.Println(out.Result.FinishReason)
	// Output:
	// Let me look. It rains in Oslo.
	// get_weather {"city":"Oslo"} → 12°C, rain
	// stop
}

func ExampleRecorder_Lines() {
	out := respondertest.Run(context.Background(), responder.Echo{}, respondertest.NewRequest("hello there"))
	for _, line := range out.Stream.Lines() {
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "text echo: "
	// "text hello "
	// "text there"
}
