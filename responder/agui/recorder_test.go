package agui

import (
	"fmt"

	"github.com/agentgate/agentgate/responder"
)

// recorder is a responder.Stream that records its calls as lines such as
// "text Hello" or "start call_1 get_weather".
type recorder struct {
	calls []string
	// fail, if set, is returned by every call.
	fail error
	// onText, if set, is called after each Text.
	onText func()
}

func (r *recorder) add(format string, args ...any) error {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
	return r.fail
}

func (r *recorder) Text(delta string) error {
	err := r.add("text %s", delta)
	if r.onText != nil {
		r.onText()
	}
	return err
}

func (r *recorder) ToolCallStart(id, name string) error { return r.add("start %s %s", id, name) }
func (r *recorder) ToolCallArgs(id, delta string) error { return r.add("args %s %s", id, delta) }
func (r *recorder) ToolCallEnd(id string) error         { return r.add("end %s", id) }
func (r *recorder) ToolCallResult(id, content string) error {
	return r.add("result %s %s", id, content)
}

var _ responder.Stream = (*recorder)(nil)
