package respondertest_test

import (
	"context"
	"fmt"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
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

// A responder that leaves the tool to the gateway: step 0 calls the tool it
// was offered and ends with FinishToolCalls; step 1 answers with the
// result, which the gateway put in Steps.
func forecast(_ context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	if req.Step == 0 && len(req.Tools) > 0 {
		for _, write := range []func() error{
			func() error { return out.ToolCallStart("call-1", req.Tools[0].Name) },
			func() error { return out.ToolCallArgs("call-1", `{"city":"`+req.Message.Text+`"}`) },
			func() error { return out.ToolCallEnd("call-1") },
		} {
			if err := write(); err != nil {
				return responder.Result{}, err
			}
		}
		return responder.Result{FinishReason: responder.FinishToolCalls}, nil
	}
	result := req.Steps[len(req.Steps)-1].ToolCalls[0].Result
	return responder.Result{FinishReason: responder.FinishStop}, out.Text("Tomorrow in " + req.Message.Text + ": " + result + ".")
}

func ExampleOutcome_Next() {
	req := respondertest.NewRequest("Oslo")
	req.Tools = []tool.Def{{Name: "get_forecast", Description: "Tomorrow's weather in a city."}}
	out := respondertest.Run(context.Background(), responder.Func(forecast), req)
	fmt.Println(out.Stream.Lines(), out.Result.FinishReason)

	// The test plays the client that runs the tool.
	next, err := out.Next(map[string]tool.Result{"call-1": {Output: "snow"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out = respondertest.Run(context.Background(), responder.Func(forecast), next)
	fmt.Println(out.Stream.Lines(), out.Result.FinishReason)
	// Output:
	// [start call-1 get_forecast args call-1 {"city":"Oslo"} end call-1] tool_calls
	// [text Tomorrow in Oslo: snow.] stop
}
