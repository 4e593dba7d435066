package doortest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

func TestAISDKTextStream(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	res := post(t, testCtx(t), client(t), srv.URL+"/ai/chat", chatBody("ai-text", "u1", "hello there"))
	if got := res.Header.Get("X-Vercel-Ai-Ui-Message-Stream"); got != "v1" {
		t.Fatalf("x-vercel-ai-ui-message-stream: %q", got)
	}
	evs := newEvents(t, res).all()
	// The echo's three deltas come as one to three chunks: what waits
	// when the door looks goes out as one.
	got := types(evs)
	for strings.Contains(got, "text-delta text-delta") {
		got = strings.ReplaceAll(got, "text-delta text-delta", "text-delta")
	}
	if got != "start text-start text-delta text-end finish [DONE]" {
		t.Fatalf("chunks: %s", types(evs))
	}
	if evs[0].str("messageId") == "" || evs[len(evs)-2].str("finishReason") != "stop" {
		t.Fatalf("start %v, finish %v", evs[0], evs[len(evs)-2])
	}
	if got := text(evs, "text-delta", "delta"); got != "echo: hello there" {
		t.Fatalf("text %q", got)
	}
}

func TestAISDKToolChunks(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	evs := newEvents(t, post(t, testCtx(t), client(t), srv.URL+"/ai/chat", chatBody("ai-tools", "u1", "weather Oslo"))).all()
	want := "start text-start text-delta text-end tool-input-start tool-input-delta tool-input-delta tool-input-available " +
		"tool-output-available text-start text-delta text-end finish [DONE]"
	if got := types(evs); got != want {
		t.Fatalf("chunks:\n%s\nwant\n%s", got, want)
	}
	avail := find(evs, "tool-input-available")
	if input, _ := avail["input"].(map[string]any); input["city"] != "Oslo" || avail.str("toolName") != "weather" {
		t.Fatalf("tool-input-available %v", avail)
	}
	out := find(evs, "tool-output-available")
	if output, _ := out["output"].(map[string]any); output["temperature"] != 21.0 || out.str("toolCallId") != avail.str("toolCallId") {
		t.Fatalf("tool-output-available %v", out)
	}
	if find(evs, "text-start").str("id") == evs[9].str("id") {
		t.Fatal("the text after the tool call reuses the first part's id")
	}
}

func TestAISDKErrorChunk(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	evs := newEvents(t, post(t, testCtx(t), client(t), srv.URL+"/ai/chat", chatBody("ai-fail", "u1", "fail"))).all()
	if got := types(evs); got != "start error [DONE]" {
		t.Fatalf("chunks: %s", got)
	}
	if got := evs[len(evs)-2].str("errorText"); !strings.HasPrefix(got, "scripted_failure: ") {
		t.Fatalf("errorText %q", got)
	}
}

func TestAISDKRegenerateAppendsTheMessageAgain(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	first := newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatBody("ai-regen", "u1", "hi"))).all()
	body := strings.Replace(chatBody("ai-regen", "u1", "hi"), `"submit-message"`,
		`"regenerate-message","messageId":"`+first[0].str("messageId")+`"`, 1)
	second := newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", body)).all()
	if second[0].str("messageId") == first[0].str("messageId") {
		t.Fatal("regenerating streamed the same reply")
	}
	// A retried regeneration is idempotent.
	third := newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", body)).all()
	if third[0].str("messageId") != second[0].str("messageId") {
		t.Fatal("a retried regeneration made another reply")
	}
	hist, err := connectClient(t, srv).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "ai-regen"}))
	if err != nil {
		t.Fatal(err)
	}
	evs := hist.Msg.GetEvents()
	if len(evs) != 4 || evs[2].GetMessage().GetText() != "hi" || evs[2].GetMessage().GetRole() != agentv1.Role_ROLE_USER {
		t.Fatalf("log: %v", evs)
	}
}

func TestAISDKResume(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	get := func(agentID string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ai/chat/"+agentID+"/stream", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	if res := get("ai-resume"); res.StatusCode != http.StatusNoContent {
		t.Fatalf("idle: status %d, want 204", res.StatusCode)
	}

	// A slow reply, followed by its writer's stream up to its second word.
	writer := newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatBody("ai-resume", "u1", "slow one two three four five six seven eight")))
	seen := writer.until("text-delta")
	seen = append(seen, writer.until("text-delta")...)
	so := text(seen, "text-delta", "delta")

	resumed := newEvents(t, get("ai-resume")).all()
	if got := types(resumed); !strings.HasPrefix(got, "start text-start text-delta") || !strings.HasSuffix(got, "text-end finish [DONE]") {
		t.Fatalf("resumed chunks: %s", got)
	}
	if resumed[0].str("messageId") != seen[0].str("messageId") {
		t.Fatalf("resumed message %q, writer's %q", resumed[0].str("messageId"), seen[0].str("messageId"))
	}
	if first := resumed[2].str("delta"); !strings.HasPrefix(first, so) {
		t.Fatalf("the resumed stream starts with %q, not the text so far %q", first, so)
	}
	if got := text(resumed, "text-delta", "delta"); got != "one two three four five six seven eight" {
		t.Fatalf("resumed text %q", got)
	}
	rest := writer.all()
	if got := so + text(rest, "text-delta", "delta"); got != "one two three four five six seven eight" {
		t.Fatalf("writer's text %q", got)
	}
	if res := get("ai-resume"); res.StatusCode != http.StatusNoContent {
		t.Fatalf("after the reply: status %d, want 204", res.StatusCode)
	}
}

// The same conversation through both doors and the Connect API: a door is
// one more way into the agent, not a store of its own.
func TestDoorsShareTheAgent(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	newEvents(t, post(t, ctx, c, srv.URL+"/agui/shared", aguiBody("t", "r", "g1", "from copilotkit"))).all()
	newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatBody("shared", "c1", "from usechat"))).all()
	res, err := connectClient(t, srv).SendMessage(context.WithoutCancel(ctx), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "shared", Text: "from connect"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetMessage().GetSeq() != 5 {
		t.Fatalf("the Connect message is seq %d, want 5", res.Msg.GetMessage().GetSeq())
	}
}
