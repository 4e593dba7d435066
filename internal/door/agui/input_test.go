package agui

import (
	"net/http/httptest"
	"strings"
	"testing"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
)

// TestInputShapes: a field of the input with an AG-UI shape (tools,
// context, a message's tool calls, the protocol version) that has another
// shape is refused with a 400 naming it, as AG-UI's own schemas refuse it;
// what AG-UI leaves open (state, forwardedProps) and the content of a
// message the door does not read are accepted whatever they are.
func TestInputShapes(t *testing.T) {
	t.Parallel()
	c := (&door.Config{}).WithDefaults()
	for _, tc := range []struct{ body, err string }{
		{`{"messages":[],"tools":"x"}`, "tools must be an array"},
		{`{"messages":[],"context":[{"description":1}]}`, "context.description must be a string"},
		{`{"messages":[{"id":"a","role":"assistant","toolCalls":{}}]}`, "messages.toolCalls must be an array"},
		{`{"messages":[],"protocolVersion":1}`, "protocolVersion must be a string"},
		{`{"messages":[{"id":"a","role":"assistant","content":{"x":1}}],"state":[1],"forwardedProps":"x"}`, ""},
	} {
		var in wire.RunAgentInput
		e := c.DecodeBody(httptest.NewRecorder(), httptest.NewRequest("POST", "/agui/a", strings.NewReader(tc.body)), &in)
		switch {
		case tc.err == "" && e != nil:
			t.Errorf("%s refused: %v", tc.body, e)
		case tc.err != "" && (e == nil || e.Status != 400 || !strings.Contains(e.Message, tc.err)):
			t.Errorf("%s: %v, want a 400 saying %q", tc.body, e, tc.err)
		}
	}
}
