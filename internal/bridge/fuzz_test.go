package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/api"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/pbjson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// newTestRPC wires the agent service's functions behind an open edge, in
// memory, for driving sessions without sockets. The edge logs nothing
// below warn, as a benchmark's should.
func newTestRPC(tb testing.TB) *rpc {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := engine.NewMemory(engine.Config{})
	svc := agent.New(agent.Config{Engine: eng, Logger: quiet})
	tb.Cleanup(func() {
		svc.Close()
		_ = eng.Close()
	})
	ms, err := newMethods(agentService(), api.New(api.Config{Service: svc}).Methods(), "SendMessage", "text")
	if err != nil {
		tb.Fatal(err)
	}
	return &rpc{methods: ms, edge: edge.New(edge.Config{Logger: quiet}), log: quiet, json: &pbjson.Encoder{}}
}

// agentService is the descriptor of agent.v1.AgentService.
func agentService() protoreflect.ServiceDescriptor {
	return agentv1.File_agent_v1_agent_proto.Services().ByName("AgentService")
}

// runFrame feeds one frame to a fresh session, lets its call finish (a
// stream is ended by drain) and returns the frames it sent. A call that
// does not finish within finishWithin fails the test.
func runFrame(t *testing.T, r *rpc, data []byte) [][]byte {
	var mu sync.Mutex
	var out [][]byte
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &session{rpc: r, agentID: "fuzz", ctx: ctx, maxCalls: 4, sink: funcSink(func(b *[]byte) bool {
		mu.Lock()
		out = append(out, bytes.Clone(*b))
		mu.Unlock()
		putBuf(b)
		return true
	})}
	s.handle(data)
	s.drain()
	done := make(chan struct{})
	go func() {
		s.wait()
		close(done)
	}()
	timer := time.NewTimer(finishWithin)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("the call of frame %q did not finish within %s", data, finishWithin)
	}
	return out
}

// funcSink is a session's sink that hands every frame, a stream's too, to
// the function.
type funcSink func(*[]byte) bool

func (f funcSink) send(b *[]byte) bool                          { return f(b) }
func (f funcSink) sendStream(_ context.Context, b *[]byte) bool { return f(b) }
func (f funcSink) closeDrained()                                {}
func (f funcSink) renew(identity.Identity)                      {}

// finishWithin is how long any call may take in the fuzz target: the
// service answers everything in memory.
const finishWithin = 10 * time.Second

var connectCodes = func() map[string]bool {
	m := map[string]bool{}
	for c := connect.CodeCanceled; c <= connect.CodeUnauthenticated; c++ {
		m[c.String()] = true
	}
	return m
}()

// FuzzFrame decodes and dispatches arbitrary frames; its seed corpus, one
// frame of each kind, is in testdata/fuzz/FuzzFrame. Whatever the input,
// the session answers each call frame with valid JSON frames carrying the
// request's id, the last of which is a response, end or error with a
// Connect code; a cancel frame gets no answer; nothing panics.
func FuzzFrame(f *testing.F) {
	r := newTestRPC(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := runFrame(t, r, data)
		parsed, perr := parseFrame(data)
		checkAgainstEncodingJSON(t, data, parsed, perr)
		if perr == nil && parsed.cancel {
			if len(frames) != 0 {
				t.Fatalf("cancel frame answered with %q", frames)
			}
			return
		}
		if len(frames) == 0 {
			t.Fatalf("frame %q got no answer", data)
		}
		for i, raw := range frames {
			var fr map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fr); err != nil {
				t.Fatalf("frame %q is not a JSON object: %v", raw, err)
			}
			if perr == nil && parsed.hasID {
				var id string
				if json.Unmarshal(fr["id"], &id) != nil || id != parsed.id {
					t.Fatalf("frame %q does not carry the request's id %q", raw, parsed.id)
				}
			}
			last := i == len(frames)-1
			_, isResponse := fr["response"]
			errRaw, isError := fr["error"]
			_, isEnd := fr["end"]
			switch {
			case isError && last:
				var e struct{ Code, Message string }
				if err := json.Unmarshal(errRaw, &e); err != nil || !connectCodes[e.Code] || e.Message == "" {
					t.Fatalf("error frame %q: want a Connect code and a message", raw)
				}
			case isEnd && last:
			case isResponse:
				if last && parsed.method == "Subscribe" {
					t.Fatalf("stream without its end: %q", frames)
				}
			default:
				t.Fatalf("frame %d of %d is %q", i+1, len(frames), raw)
			}
		}
	})
}

// checkAgainstEncodingJSON compares the hand-written member scan of
// parseFrame with encoding/json on the same frame.
func checkAgainstEncodingJSON(t *testing.T, data []byte, f clientFrame, err error) {
	var m map[string]json.RawMessage
	if !isObject(data) || json.Unmarshal(data, &m) != nil {
		return
	}
	for k := range m {
		if k != "id" && k != "method" && k != "request" && k != "cancel" && k != "refresh" {
			if err == nil {
				t.Fatalf("%q: the unknown field %q went unnoticed", data, k)
			}
			return
		}
	}
	var id string
	if raw := m["id"]; !isNull(raw) && json.Unmarshal(raw, &id) == nil && len(id) <= maxIDLen {
		if !f.hasID || f.id != id {
			t.Fatalf("%q: id %q, encoding/json reads %q", data, f.id, id)
		}
	}
	if err == nil && !isNull(m["request"]) && !bytes.Equal(f.request, m["request"]) {
		t.Fatalf("%q: request %q, encoding/json reads %q", data, f.request, m["request"])
	}
}
