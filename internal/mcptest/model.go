package mcptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// Call is a tool call the model makes.
type Call struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Ask is the text of a user message that has the model call calls, all in
// its first step, in order.
func Ask(calls ...Call) string {
	b, err := json.Marshal(calls)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Result is a tool result as the model read it, in its answer.
type Result struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// Answer reads the text the model wrote after the calls: their results,
// in the order of the tool messages it was sent.
func Answer(text string) ([]Result, error) {
	var out []Result
	err := json.Unmarshal([]byte(text), &out)
	return out, err
}

// Model is a scripted OpenAI-compatible model server (Chat Completions,
// streamed as OpenAI streams). A request whose last message is the user's
// gets the calls its text names (see Ask), each a tool call with a new id,
// its arguments sent in two pieces, and finish reason tool_calls; a call of
// a tool the request does not offer is left out, and a request without any
// call to make gets the text "no call: " and the names left out. A request
// whose last message is a tool result gets, as text, the results sent
// after the last assistant message that called tools (see Answer), and
// finish reason stop.
type Model struct {
	*httptest.Server
	ids atomic.Int64
	mu  sync.Mutex
	// firsts and seconds count the requests of each kind.
	firsts, seconds int
	offered         []string // by the last request
}

// StartModel serves a Model until the test ends.
func StartModel(t testing.TB) *Model {
	t.Helper()
	m := &Model{}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

// chatRequest is what the model reads of a request.
type chatRequest struct {
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct{}      `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

func (m *Model) serve(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, fmt.Sprintf("want a chat request: %v", err), http.StatusBadRequest)
		return
	}
	var offered []string
	for _, t := range req.Tools {
		offered = append(offered, t.Function.Name)
	}
	last := req.Messages[len(req.Messages)-1]
	m.mu.Lock()
	m.offered = offered
	if last.Role == "user" {
		m.firsts++
	} else {
		m.seconds++
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	if last.Role == "user" {
		var text string
		_ = json.Unmarshal(last.Content, &text)
		m.call(w, text, offered)
		return
	}
	var results []Result
	for _, msg := range req.Messages {
		switch {
		case msg.Role == "assistant" && len(msg.ToolCalls) > 0:
			results = nil
		case msg.Role == "tool":
			var content string
			_ = json.Unmarshal(msg.Content, &content)
			results = append(results, Result{ID: msg.ToolCallID, Content: content})
		}
	}
	b, _ := json.Marshal(results)
	say(w, string(b))
}

// call streams the calls text names, of the tools offered.
func (m *Model) call(w http.ResponseWriter, text string, offered []string) {
	var calls []Call
	_ = json.Unmarshal([]byte(text), &calls)
	var missing []string
	i := 0
	for _, c := range calls {
		if !slices.Contains(offered, c.Name) {
			missing = append(missing, c.Name)
			continue
		}
		id := fmt.Sprintf("call_%d", m.ids.Add(1))
		args := string(c.Arguments)
		half := len(args) / 2
		for half > 0 && !utf8.RuneStart(args[half]) {
			half--
		}
		name, _ := json.Marshal(c.Name)
		chunk(w, fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":%q,"type":"function","function":{"name":%s,"arguments":%s}}]}`, i, id, name, jsonString(args[:half])), "null")
		chunk(w, fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, jsonString(args[half:])), "null")
		i++
	}
	if i == 0 {
		say(w, "no call: "+strings.Join(missing, ","))
		return
	}
	chunk(w, `{}`, `"tool_calls"`)
	fmt.Fprint(w, "data: [DONE]\n\n")
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

// Requests counts the requests the model took: those that began a run
// (their last message the user's), and those that went on with results.
func (m *Model) Requests() (firsts, seconds int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firsts, m.seconds
}

// Offered lists the tools the last request offered.
func (m *Model) Offered() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.offered)
}

// Env is the gateway's configuration of the openai responder with this
// model.
func (m *Model) Env() map[string]string {
	return map[string]string{"RESPONDER": "openai", "OPENAI_BASE_URL": m.URL, "OPENAI_MODEL": "m"}
}
