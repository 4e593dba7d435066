package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/gorilla/websocket"
)

// TestLongEpochIsRefusedEverywhere: an epoch over 128 characters is the
// same invalid_argument, with the same message, in ?epoch=, in a Subscribe
// frame, and in Connect's Subscribe and Converse.
func TestLongEpochIsRefusedEverywhere(t *testing.T) {
	t.Parallel()
	srv, c := inputServer(t, &apptest.LogBuffer{})
	ctx := testCtx(t)
	epoch := strings.Repeat("e", 10_000)
	const want = "epoch is 10000 characters long; the limit is 128"

	_, res := dial(t, wsURL(srv, "ep", "access_token="+inputToken+"&after_seq=0&epoch="+epoch), nil)
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
		t.Errorf("?epoch=: status %d, %s", res.StatusCode, b)
	}

	ws, _ := dial(t, wsURL(srv, "ep", "access_token="+inputToken+"&subscribe=false"), nil)
	if ws == nil {
		t.Fatal("socket refused")
	}
	frame := `{"id":"s1","method":"Subscribe","request":{"afterSeq":"0","epoch":"` + epoch + `"}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		ID    string
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(data, &f); err != nil || f.ID != "s1" || f.Error.Code != "invalid_argument" || !strings.Contains(f.Error.Message, want) {
		t.Errorf("Subscribe frame: %s (%v)", data, err)
	}

	// Refused at once; the timeout only bounds a stream that was not.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	after := uint64(0)
	stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "ep", AfterSeq: &after, Epoch: epoch}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if err := stream.Err(); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), want) {
		t.Errorf("Connect Subscribe: %v", err)
	}
	stream.Close()

	conv := c.Converse(ctx)
	if err := conv.Send(&agentv1.ConverseRequest{AgentId: "ep", AfterSeq: &after, Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	if _, err := conv.Receive(); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), want) {
		t.Errorf("Connect Converse: %v", err)
	}
	_ = conv.CloseRequest()
	_ = conv.CloseResponse()
}
