package tooltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// Call is a tool call of a script: a tool's name and its arguments, a
// JSON object (nil for none).
type Call struct {
	Name      string
	Arguments json.RawMessage
}

// Ask is the script of one step that makes calls, in order, for a
// message to Responder or OpenAI.
func Ask(calls ...Call) string {
	words := make([]string, 0, 2*len(calls))
	for _, c := range calls {
		words = append(words, c.Name)
		if len(c.Arguments) > 0 {
			words = append(words, string(c.Arguments))
		}
	}
	return strings.Join(words, " ")
}

// Replay is the message that has OpenAI answer with the recorded stream
// responder/openai/testdata/<recording>.sse: tool calls as OpenAI
// ("openai_tool_calls"), Ollama ("ollama_no_index") or vLLM
// ("vllm_no_id") stream them.
func Replay(recording string) string { return "replay " + recording }

// Result is a tool result as OpenAI read it: its tool message's
// tool_call_id and content, which marks a failure as the openai responder
// does.
type Result struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// Answer reads the text OpenAI wrote after the calls: their results, in
// the order of the tool messages it was sent.
func Answer(text string) ([]Result, error) {
	var out []Result
	err := json.Unmarshal([]byte(text), &out)
	return out, err
}

// OpenAI is a scripted OpenAI-compatible model server (Chat Completions,
// streamed as OpenAI streams), for the openai responder. It reads the
// script of the run's user message as Responder does (Ask writes one):
// at step i it makes the i-th step's calls, each with a new id and its
// arguments in two pieces, finish reason tool_calls; the step after the
// last writes, as text, the results it was sent after the last assistant
// message that called tools, as JSON (see Answer), or the words of a last
// "slow" step, at once; finish reason stop. A step counts the assistant
// messages with calls after the user's. A message Replay wrote gets the
// recorded stream at step 0 instead, byte for byte. Anything else is
// echoed: "echo: <text>". It keeps every request.
type OpenAI struct {
	*httptest.Server
	ids atomic.Int64
	mu  sync.Mutex
	// firsts and seconds count the requests whose last message is the
	// user's, and the others.
	firsts, seconds int
	received        []ChatRequest
}

// StartOpenAI serves an OpenAI until the test ends.
func StartOpenAI(t testing.TB) *OpenAI {
	t.Helper()
	m := &OpenAI{}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

// ChatRequest is what OpenAI reads of a request.
type ChatRequest struct {
	Messages []ChatMessage `json:"messages"`
	Tools    []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// ChatMessage is a message of a request.
type ChatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// Text is the message's content when it is a string, as the openai
// responder sends user and tool messages.
func (m ChatMessage) Text() string {
	var s string
	_ = json.Unmarshal(m.Content, &s)
	return s
}

func (m *OpenAI) serve(w http.ResponseWriter, r *http.Request) {
	var req ChatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, fmt.Sprintf("want a chat request: %v", err), http.StatusBadRequest)
		return
	}
	user, step := -1, 0
	for i, msg := range req.Messages {
		switch {
		case msg.Role == "user":
			user, step = i, 0
		case msg.Role == "assistant" && len(msg.ToolCalls) > 0:
			step++
		}
	}
	m.mu.Lock()
	m.received = append(m.received, req)
	if user == len(req.Messages)-1 {
		m.firsts++
	} else {
		m.seconds++
	}
	m.mu.Unlock()
	if user < 0 {
		http.Error(w, "want a user message", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	text := req.Messages[user].Text()
	if recording, ok := strings.CutPrefix(text, "replay "); ok {
		if step == 0 {
			replay(w, recording)
		} else {
			say(w, results(req.Messages))
		}
		return
	}
	// The tools offered, and those the run called already: a tool can go
	// away mid-run (an MCP server that went down), and its result is
	// still the model's to read.
	offered := map[string]bool{}
	for _, t := range req.Tools {
		offered[t.Function.Name] = true
	}
	for _, msg := range req.Messages[user:] {
		for _, c := range msg.ToolCalls {
			offered[c.Function.Name] = true
		}
	}
	s, ok := parse(text, offered)
	switch {
	case !ok:
		say(w, "echo: "+text)
	case step < len(s.steps):
		m.call(w, s.steps[step])
	case s.slow != "":
		say(w, s.slow)
	default:
		say(w, results(req.Messages))
	}
}

// results is the JSON of the results sent after the last assistant
// message that called tools (see Answer).
func results(msgs []ChatMessage) string {
	var out []Result
	for _, msg := range msgs {
		switch {
		case msg.Role == "assistant" && len(msg.ToolCalls) > 0:
			out = nil
		case msg.Role == "tool":
			out = append(out, Result{ID: msg.ToolCallID, Content: msg.Text()})
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// call streams calls, each with a new id and its arguments in two pieces.
func (m *OpenAI) call(w http.ResponseWriter, calls []Call) {
	for i, c := range calls {
		id := fmt.Sprintf("call_%d", m.ids.Add(1))
		args := string(c.Arguments)
		half := len(args) / 2
		for half > 0 && !utf8.RuneStart(args[half]) {
			half--
		}
		chunk(w, fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":%q,"type":"function","function":{"name":%s,"arguments":%s}}]}`, i, id, jsonString(c.Name), jsonString(args[:half])), "null")
		chunk(w, fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, jsonString(args[half:])), "null")
	}
	chunk(w, `{}`, `"tool_calls"`)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// replay writes the recording, or fails the request when there is none.
func replay(w http.ResponseWriter, recording string) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "responder", "openai", "testdata", filepath.Base(recording)+".sse"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write(b)
}

// say streams content and finish reason stop.
func say(w http.ResponseWriter, content string) {
	chunk(w, `{"role":"assistant","content":`+jsonString(content)+`}`, "null")
	chunk(w, `{}`, `"stop"`)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func chunk(w http.ResponseWriter, delta, finish string) {
	fmt.Fprintf(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", delta, finish)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Requests counts the requests the server took: those that began a run
// (their last message the user's), and those that went on with results.
func (m *OpenAI) Requests() (firsts, seconds int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firsts, m.seconds
}

// Received is every request the server took, in order.
func (m *OpenAI) Received() []ChatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.received)
}

// Offered lists the tools the last request offered.
func (m *OpenAI) Offered() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.received) == 0 {
		return nil
	}
	var names []string
	for _, t := range m.received[len(m.received)-1].Tools {
		names = append(names, t.Function.Name)
	}
	return names
}

// Env is the gateway's configuration of the openai responder with this
// server.
func (m *OpenAI) Env() map[string]string {
	return map[string]string{"RESPONDER": "openai", "OPENAI_BASE_URL": m.URL, "OPENAI_MODEL": "m"}
}
