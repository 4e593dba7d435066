package agui_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/agui"
)

// printStream prints the reply's text as it comes.
type printStream struct{ w io.Writer }

func (p printStream) Text(delta string) error                 { _, err := io.WriteString(p.w, delta); return err }
func (p printStream) ToolCallStart(id, name string) error     { return nil }
func (p printStream) ToolCallArgs(id, delta string) error     { return nil }
func (p printStream) ToolCallEnd(id string) error             { return nil }
func (p printStream) ToolCallResult(id, content string) error { return nil }
func (p printStream) Interrupt(responder.Interrupt) error     { return nil }

// An AG-UI agent answers the responder's POST with an event stream; here a
// stand-in for a LangGraph or ADK endpoint writes a fixed one.
func Example() {
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"type":"RUN_STARTED","threadId":"agent-1","runId":"run-1"}

data: {"type":"TEXT_MESSAGE_START","messageId":"m1","role":"assistant"}

data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"Hello from AG-UI"}

data: {"type":"TEXT_MESSAGE_END","messageId":"m1"}

data: {"type":"RUN_FINISHED","threadId":"agent-1","runId":"run-1"}

`)
	}))
	defer agent.Close()

	// The gateway fills Config from AGUI_URL and AGUI_TOKEN.
	r, err := agui.New(agui.Config{URL: agent.URL})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Respond(context.Background(), responder.Request{
		AgentID: "agent-1",
		RunID:   "run-1",
		Message: responder.Message{ID: "u1", Role: responder.RoleUser, Text: "hi"},
	}, printStream{os.Stdout})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("\nfinish:", res.FinishReason)
	// Output:
	// Hello from AG-UI
	// finish: stop
}
