package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/bridge"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/gorilla/websocket"
)

// clockTokens is a Verifier whose tokens a test makes with the expiry it
// wants, to the nanosecond; all are alice's.
type clockTokens struct {
	mu  sync.Mutex
	exp map[string]time.Time
}

func (c *clockTokens) add(tok string, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exp[tok] = exp
}

func (c *clockTokens) Verify(_ context.Context, tok string) (identity.Identity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.exp[tok]
	if !ok {
		return identity.Identity{}, identity.ErrInvalid
	}
	return identity.Identity{Kind: identity.KindUser, Subject: "alice", Agents: []string{"*"}, Perms: identity.Read | identity.Write, Expires: exp}, nil
}

// TestSocketLifetime: the expiring frame comes once per token, when half
// its time is left (under the 30 s lead), and not again for a refresh
// that does not move the expiry; the socket then closes with 4001 at the
// token's expiry plus the grace. A refresh to a token that never expires
// keeps the socket past that.
func TestSocketLifetime(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	tokens := &clockTokens{exp: map[string]time.Time{}}
	srv := apptest.Start(t, map[string]string{"AUTH_EXPIRY_GRACE": grace.String()}, func(o *app.Options) {
		o.Verifiers = []edge.Verifier{tokens}
	})
	opened := time.Now()
	exp := opened.Add(1200 * time.Millisecond)
	tokens.add("t1", exp)
	tokens.add("t1-again", exp)
	c := dialWith(t, &websocket.Dialer{Subprotocols: []string{"agent.v1", "bearer.t1"}}, wsURL(srv, "/ws/agent/a1?subscribe=false"), nil)

	f := c.read()
	var told struct {
		Expiring *struct{ ExpireTime, CloseTime time.Time }
	}
	if err := json.Unmarshal([]byte(f.raw), &told); err != nil || told.Expiring == nil {
		t.Fatalf("first frame %s, want expiring", f.raw)
	}
	if !told.Expiring.ExpireTime.Equal(exp) || !told.Expiring.CloseTime.Equal(exp.Add(grace)) {
		t.Fatalf("expiring %s, want %s and %s", f.raw, exp, exp.Add(grace))
	}
	if now := time.Now(); now.Before(opened.Add(600 * time.Millisecond)) {
		t.Fatalf("told at %s after the open, before half the token's time", now.Sub(opened))
	}
	c.sendText(`{"id":"r1","refresh":{"token":"t1-again"}}`)
	if f := c.read(); f.ID != "r1" || f.Error != nil {
		t.Fatalf("refresh: %s", f.raw)
	}
	for {
		f, err := c.tryRead()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != int(bridge.CloseTokenExpired) || time.Now().Before(exp.Add(grace)) {
				t.Fatalf("closed with %v at %s, want 4001 after %s", err, time.Now(), exp.Add(grace))
			}
			break
		}
		if err != nil || strings.Contains(f.raw, "expiring") {
			t.Fatalf("after the refresh: %s, %v; want the close, untold again", f.raw, err)
		}
	}

	// A token that never expires, handed in time, ends the lifetime.
	exp = time.Now().Add(800 * time.Millisecond)
	tokens.add("t2", exp)
	tokens.add("forever", time.Time{})
	c = dialWith(t, &websocket.Dialer{Subprotocols: []string{"agent.v1", "bearer.t2"}}, wsURL(srv, "/ws/agent/a1?subscribe=false"), nil)
	c.sendText(`{"id":"r2","refresh":{"token":"forever"}}`)
	for {
		f := c.read()
		if f.ID == "r2" {
			if f.Error != nil || string(f.Response) != "{}" {
				t.Fatalf("refresh to a token that never expires: %s", f.raw)
			}
			break
		}
	}
	c.expires = exp.Add(grace + 500*time.Millisecond)
	for {
		f, err := c.tryRead()
		if err != nil {
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("past the first token's end: %v, want the socket open", err)
			}
			break
		}
		if !strings.Contains(f.raw, "expiring") {
			t.Fatalf("unexpected frame %s", f.raw)
		}
	}
}
