package app_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// pageFn asks for one page of ListAgents after token, one agent a page:
// the agents shown and the next page token.
type pageFn func(token string) (agents []string, next string)

// TestListingTellsNothingOfOthers: a user paging through ListAgents one
// agent a page, past other users' agents, sees her own agents, and no
// page and no page token names another's, over Connect in every protocol
// and over the socket. The service token pages through them all.
func TestListingTellsNothingOfOthers(t *testing.T) {
	t.Parallel()
	srv, _ := startSecretGateway(t, nil)
	ctx := testCtx(t)
	service := jwtClient(t, srv, h2cConnect, token)
	others := []string{"alicf", "bob:secret-project", "bob:x", "carol"}
	for _, id := range append([]string{"alice:1", "alice:2", "alice:3"}, others...) {
		send(ctx, t, service, id, "hello")
	}
	alice := hsToken(t, aliceClaims(nil))

	pagers := map[string]pageFn{}
	for _, p := range threeProtocols {
		c := jwtClient(t, srv, p, alice)
		pagers[p.name] = func(tok string) ([]string, string) {
			res, err := c.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{PageSize: 1, PageToken: tok}))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			var ids []string
			for _, a := range res.Msg.GetAgents() {
				ids = append(ids, a.GetAgentId())
			}
			return ids, res.Msg.GetNextPageToken()
		}
	}
	ws, res := dial(t, wsURL(srv, "alice:1", "subscribe=false"), nil, "agent.v1", "bearer."+alice)
	if ws == nil {
		t.Fatalf("alice's socket: %d", res.StatusCode)
	}
	n := 0
	pagers["websocket"] = func(tok string) ([]string, string) {
		n++
		f := frameAnswer(t, ws, fmt.Sprintf(`{"id":"l%d","method":"ListAgents","request":{"pageSize":1,"pageToken":%q}}`, n, tok))
		var page struct {
			Agents        []struct{ AgentID string }
			NextPageToken string
		}
		if f.Error != nil || json.Unmarshal(f.Response, &page) != nil {
			t.Fatalf("websocket: %s", f.raw)
		}
		var ids []string
		for _, a := range page.Agents {
			ids = append(ids, a.AgentID)
		}
		return ids, page.NextPageToken
	}

	for name, page := range pagers {
		seen, pages := pageThrough(t, name, page)
		if strings.Join(seen, " ") != "alice:1 alice:2 alice:3" {
			t.Errorf("%s: alice lists %q, want her three agents", name, seen)
		}
		for _, p := range pages {
			for _, other := range others {
				if strings.Contains(p, other) {
					t.Errorf("%s: a page names %s, another's agent: %s", name, other, p)
				}
			}
		}
	}
	all, _ := pageThrough(t, "the service", func(tok string) ([]string, string) {
		res, err := service.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{PageSize: 1, PageToken: tok}))
		if err != nil {
			t.Fatal(err)
		}
		return []string{res.Msg.GetAgents()[0].GetAgentId()}, res.Msg.GetNextPageToken()
	})
	if len(all) != 7 || !slices.IsSorted(all) {
		t.Errorf("the service lists %q, want all seven in order", all)
	}
}

// pageThrough follows the page tokens of page to the end, and returns the
// agents seen and each page as text (its agents and its token).
func pageThrough(t *testing.T, name string, page pageFn) (seen, pages []string) {
	t.Helper()
	tok := ""
	for range 20 {
		ids, next := page(tok)
		seen = append(seen, ids...)
		pages = append(pages, fmt.Sprintf("agents %q, next_page_token %q", ids, next))
		if next == "" {
			return seen, pages
		}
		tok = next
	}
	t.Fatalf("%s: the listing does not end: %q", name, pages)
	return nil, nil
}
