package door

import (
	"fmt"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// record is a Sink that writes its calls down.
type record []string

func (r *record) add(f string, a ...any) { *r = append(*r, fmt.Sprintf(f, a...)) }

func (r *record) Start(id string)           { r.add("start %s", id) }
func (r *record) Text(d string)             { r.add("text %q", d) }
func (r *record) ToolStart(id, name string) { r.add("tool-start %s %s", id, name) }
func (r *record) ToolArgs(id, d string)     { r.add("tool-args %s %s", id, d) }
func (r *record) ToolEnd(id string)         { r.add("tool-end %s", id) }
func (r *record) ToolResult(id, c string)   { r.add("tool-result %s %s", id, c) }
func (r *record) Finish(m *agentv1.Message) { r.add("finish %s", m.GetFinishReason()) }
func (r *record) Fail(code, msg string)     { r.add("fail %s %s", code, msg) }
func (r *record) String() string            { return strings.Join(*r, "\n") }
func started(run, msg string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: run, MessageId: msg}}}
}

func delta(run, msg, d string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: run, MessageId: msg, Delta: d}}}
}

func toolStart(run, msg, id, name string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallStart{ToolCallStart: &agentv1.ToolCallStart{RunId: run, MessageId: msg, ToolCallId: id, Name: name}}}
}

func toolArgs(run, id, d string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{RunId: run, ToolCallId: id, Delta: d}}}
}

func toolEnd(run, id string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallEnd{ToolCallEnd: &agentv1.ToolCallEnd{RunId: run, ToolCallId: id}}}
}

func toolResult(run, id, c string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{RunId: run, ToolCallId: id, Content: c}}}
}

func reply(msg, text string, calls ...*agentv1.ToolCall) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 2, Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: msg, Role: agentv1.Role_ROLE_ASSISTANT, Text: text, ToolCalls: calls,
		FinishReason: agentv1.FinishReason_FINISH_REASON_STOP}}}
}

func runError(code, msg string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 2, Kind: &agentv1.AgentEvent_RunError{RunError: &agentv1.RunError{Code: code, Message: msg}}}
}

var weather = &agentv1.ToolCall{ToolCallId: "c1", Name: "weather", Arguments: `{"city":"Oslo"}`, Result: `{"temp":3}`}

func TestAssembler(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		events []*agentv1.AgentEvent
		want   []string
	}{{
		name: "live run",
		events: []*agentv1.AgentEvent{
			started("r", "m"), delta("r", "m", "It is "),
			toolStart("r", "m", "c1", "weather"), toolArgs("r", "c1", `{"city":`), toolArgs("r", "c1", `"Oslo"}`),
			toolEnd("r", "c1"), toolResult("r", "c1", `{"temp":3}`), delta("r", "m", "cold."),
			reply("m", "It is cold.", weather),
		},
		want: []string{`start m`, `text "It is "`, `tool-start c1 weather`, `tool-args c1 {"city":`, `tool-args c1 "Oslo"}`,
			`tool-end c1`, `tool-result c1 {"temp":3}`, `text "cold."`, `finish FINISH_REASON_STOP`},
	}, {
		name:   "a reply written already",
		events: []*agentv1.AgentEvent{reply("m", "It is cold.", weather)},
		want: []string{`start m`, `text "It is cold."`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`,
			`tool-end c1`, `tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}, {
		name: "a joined run: the text so far in one delta",
		events: []*agentv1.AgentEvent{
			started("r", "m"), delta("r", "m", "It is "), toolStart("r", "m", "c1", "weather"), toolArgs("r", "c1", `{"city":"Oslo"}`),
			reply("m", "It is cold.", weather),
		},
		want: []string{`start m`, `text "It is "`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`,
			`text "cold."`, `tool-end c1`, `tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}, {
		name: "lost events are filled in from the reply",
		events: []*agentv1.AgentEvent{
			delta("r", "m", "It "), toolArgs("r", "c1", `{"ci`), toolEnd("r", "c1"),
			reply("m", "It is cold.", weather),
		},
		want: []string{`start m`, `text "It "`, `text "is cold."`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`,
			`tool-end c1`, `tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}, {
		name:   "a run error after some text",
		events: []*agentv1.AgentEvent{started("r", "m"), delta("r", "m", "It "), runError("upstream_failed", "try again")},
		want:   []string{`start m`, `text "It "`, `fail upstream_failed try again`},
	}, {
		name: "a run taken over after its writer died",
		events: []*agentv1.AgentEvent{
			started("r1", "m1"), delta("r1", "m1", "Half"), toolStart("r1", "m1", "c0", "weather"),
			started("r2", "m2"), delta("r2", "m2", "Whole"), reply("m2", "Whole"),
		},
		want: []string{`start m1`, `text "Half"`, `tool-start c0 weather`, `tool-end c0`, `start m2`, `text "Whole"`,
			`finish FINISH_REASON_STOP`},
	}, {
		name:   "nothing after the end",
		events: []*agentv1.AgentEvent{reply("m", "ok"), delta("r", "m", "late"), runError("x", "y")},
		want:   []string{`start m`, `text "ok"`, `finish FINISH_REASON_STOP`},
	}, {
		name:   "a result without its call waits for the reply",
		events: []*agentv1.AgentEvent{started("r", "m"), toolResult("r", "c1", "early"), reply("m", "", weather)},
		want: []string{`start m`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`, `tool-end c1`,
			`tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got record
			a := NewAssembler(&got)
			for _, ev := range tc.events {
				a.Event(ev)
			}
			if !a.Ended() {
				t.Error("not ended")
			}
			want := record(tc.want)
			if got.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}

func TestAssemblerFailEndsOnce(t *testing.T) {
	t.Parallel()
	var got record
	a := NewAssembler(&got)
	a.Event(started("r", "m"))
	a.Fail("unavailable", "server is shutting down; retry")
	a.Fail("again", "no")
	a.Event(reply("m", "x"))
	if want := "start m\nfail unavailable server is shutting down; retry"; got.String() != want {
		t.Fatalf("got\n%s", got.String())
	}
}
