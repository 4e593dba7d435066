package doortest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/tool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// start runs the gateway with the scripted responder and its server
// tools (tooltest).
func start(t *testing.T, env map[string]string) *apptest.Server {
	t.Helper()
	return apptest.Start(t, env, func(o *app.Options) {
		o.Responder = tooltest.Responder{Delay: 20 * time.Millisecond}
		o.Tools = []tool.Source{tooltest.ServerTools()}
	})
}

func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func connectClient(t *testing.T, srv *apptest.Server) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(client(t), srv.URL)
}

// post sends a JSON body with headers (name, value pairs).
func post(t *testing.T, ctx context.Context, c *http.Client, url, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// events reads an SSE body frame by frame, checking the framing: LF only,
// data lines (or comments) only, each frame one JSON object without a null.
type events struct {
	t *testing.T
	r *bufio.Reader
}

func newEvents(t *testing.T, res *http.Response) *events {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content-type %q", ct)
	}
	return &events{t: t, r: bufio.NewReader(res.Body)}
}

// next returns the data of the next frame, skipping comments; io.EOF at
// the end of the stream.
func (e *events) next() (string, error) {
	e.t.Helper()
	var frame bytes.Buffer
	for {
		line, err := e.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && frame.Len() == 0 && line == "" {
				return "", io.EOF
			}
			return "", fmt.Errorf("frame cut off (%q): %w", frame.String()+line, err)
		}
		if strings.Contains(line, "\r") {
			e.t.Fatalf("a CR in %q: frames must be LF-only", line)
		}
		switch {
		case line == "\n" && frame.Len() == 0:
			e.t.Fatal("an empty frame")
		case line == "\n":
			return frame.String(), nil
		case strings.HasPrefix(line, ": "):
			if _, err := e.r.ReadString('\n'); err != nil { // the comment's blank line
				return "", err
			}
		case strings.HasPrefix(line, "data: ") && frame.Len() == 0:
			frame.WriteString(strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n"))
		default:
			e.t.Fatalf("unexpected line %q", line)
		}
	}
}

// event is one decoded frame.
type event map[string]any

func (ev event) str(k string) string { s, _ := ev[k].(string); return s }

// decode parses a frame, refusing nulls anywhere.
func decode(t *testing.T, data string) event {
	t.Helper()
	var ev event
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case nil:
			t.Fatalf("a null in %s", data)
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(map[string]any(ev))
	return ev
}

// all reads the stream to its end.
func (e *events) all() []event {
	e.t.Helper()
	var out []event
	for {
		data, err := e.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if data == "[DONE]" {
			out = append(out, event{"type": "[DONE]"})
			continue
		}
		out = append(out, decode(e.t, data))
	}
}

// until reads frames until one of type typ (and returns it).
func (e *events) until(typ string) (seen []event) {
	e.t.Helper()
	for {
		data, err := e.next()
		if err != nil {
			e.t.Fatalf("no %s: %v (after %v)", typ, err, seen)
		}
		ev := decode(e.t, data)
		seen = append(seen, ev)
		if ev.str("type") == typ {
			return seen
		}
	}
}

func types(evs []event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.str("type"))
	}
	return strings.Join(out, " ")
}

// verifyAGUI checks what @ag-ui/client 1.0 verifies of a run: RUN_STARTED
// first, text messages and tool calls opened before use and closed before
// RUN_FINISHED, exactly one terminal event, last.
func verifyAGUI(t *testing.T, evs []event) {
	t.Helper()
	if len(evs) == 0 || evs[0].str("type") != "RUN_STARTED" {
		t.Fatalf("first event is not RUN_STARTED: %s", types(evs))
	}
	texts, tools := map[string]bool{}, map[string]bool{}
	for i, ev := range evs {
		typ := ev.str("type")
		if i > 0 && (typ == "RUN_STARTED") {
			t.Fatalf("a second RUN_STARTED: %s", types(evs))
		}
		last := i == len(evs)-1
		switch typ {
		case "TEXT_MESSAGE_START":
			if texts[ev.str("messageId")] {
				t.Fatalf("text message opened twice: %s", types(evs))
			}
			texts[ev.str("messageId")] = true
		case "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END":
			if !texts[ev.str("messageId")] {
				t.Fatalf("%s of a text message not open: %s", typ, types(evs))
			}
			if typ == "TEXT_MESSAGE_END" {
				delete(texts, ev.str("messageId"))
			}
		case "TOOL_CALL_START":
			if tools[ev.str("toolCallId")] {
				t.Fatalf("tool call opened twice: %s", types(evs))
			}
			tools[ev.str("toolCallId")] = true
		case "TOOL_CALL_ARGS", "TOOL_CALL_END":
			if !tools[ev.str("toolCallId")] {
				t.Fatalf("%s of a tool call not open: %s", typ, types(evs))
			}
			if typ == "TOOL_CALL_END" {
				delete(tools, ev.str("toolCallId"))
			}
		case "RUN_FINISHED":
			if len(texts) > 0 || len(tools) > 0 {
				t.Fatalf("RUN_FINISHED with messages or calls open: %s", types(evs))
			}
			fallthrough
		case "RUN_ERROR":
			if !last {
				t.Fatalf("events after the terminal event: %s", types(evs))
			}
			return
		}
	}
	t.Fatalf("no terminal event: %s", types(evs))
}

// text joins the deltas of frames of type typ.
func text(evs []event, typ, field string) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.str("type") == typ {
			b.WriteString(ev.str(field))
		}
	}
	return b.String()
}

func find(evs []event, typ string) event {
	for _, ev := range evs {
		if ev.str("type") == typ {
			return ev
		}
	}
	return nil
}

func aguiBody(threadID, runID, msgID, text string) string {
	b, _ := json.Marshal(map[string]any{
		"threadId": threadID, "runId": runID, "state": map[string]any{}, "tools": []any{}, "context": []any{},
		"forwardedProps": map[string]any{}, "protocolVersion": "1.0",
		"messages": []any{map[string]any{"id": msgID, "role": "user", "content": text}},
	})
	return string(b)
}

func chatBody(agentID, msgID, text string) string {
	b, _ := json.Marshal(map[string]any{
		"id": agentID, "trigger": "submit-message",
		"messages": []any{map[string]any{"id": msgID, "role": "user", "parts": []any{map[string]any{"type": "text", "text": text}}}},
	})
	return string(b)
}
