package identity

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/agentid"
	"github.com/golang-jwt/jwt/v5"
)

// verifyClaims signs claims with the test secret and verifies them with a
// verifier changed by change.
func verifyClaims(t *testing.T, change func(*JWTConfig), claims jwt.MapClaims) (Identity, error) {
	t.Helper()
	clk := newClock()
	v := newSecretVerifier(t, clk, change)
	return v.Verify(context.Background(), signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(clk.Now(), "alice", claims)))
}

// TestAgentsClaim: the claim as a list or as one space-separated string,
// under its default name or another; absent, the default templates.
func TestAgentsClaim(t *testing.T) {
	t.Parallel()
	namespaced := func(c *JWTConfig) { c.AgentsClaim = "https://app.example.com/agents" }
	templated := func(c *JWTConfig) { c.DefaultAgents = []string{"{sub}", "{sub}:*"} }
	for _, tc := range []struct {
		name   string
		change func(*JWTConfig)
		claims jwt.MapClaims
		want   []string
	}{
		{"list", nil, jwt.MapClaims{"agents": []string{"a1", "team:*"}}, []string{"a1", "team:*"}},
		{"string", nil, jwt.MapClaims{"agents": " a1  team:* "}, []string{"a1", "team:*"}},
		{"every agent", nil, jwt.MapClaims{"agents": "*"}, []string{"*"}},
		{"empty list", templated, jwt.MapClaims{"agents": []string{}}, []string{}},
		{"null is absent", templated, jwt.MapClaims{"agents": nil}, []string{"alice", "alice:*"}},
		{"absent, no templates", nil, nil, nil},
		{"absent, templates", templated, nil, []string{"alice", "alice:*"}},
		{"named claim", namespaced, jwt.MapClaims{"https://app.example.com/agents": []string{"x"}, "agents": []string{"y"}}, []string{"x"}},
		{"named claim absent", func(c *JWTConfig) { namespaced(c); templated(c) }, jwt.MapClaims{"agents": []string{"y"}}, []string{"alice", "alice:*"}},
		{"prefixed templates", func(c *JWTConfig) { c.DefaultAgents = []string{"u:{sub}:*"} }, nil, []string{"u:alice:*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := verifyClaims(t, tc.change, tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			if len(id.Agents) != len(tc.want) || !slices.Equal(id.Agents, tc.want) {
				t.Fatalf("agents %q, want %q", id.Agents, tc.want)
			}
		})
	}
	// With a claim of another name, "agents" is not read: a token cannot
	// reach more by using the default name.
	id, err := verifyClaims(t, namespaced, jwt.MapClaims{"agents": []string{"*"}})
	if err != nil || id.Reaches("anyone") {
		t.Fatalf("%+v, %v: the agents claim was read under another name", id, err)
	}
}

func TestBadAgentsClaims(t *testing.T) {
	t.Parallel()
	many := make([]string, maxPatterns+1)
	for i := range many {
		many[i] = "a"
	}
	for _, bad := range []any{
		7, true, map[string]any{"a": 1}, []any{"a", nil}, []any{[]string{"a"}},
		[]string{""}, []string{"a*b"}, []string{"**"}, []string{"a b"}, []string{"."}, []string{"x/y"},
		[]string{strings.Repeat("a", agentid.MaxLen+1)}, "ok bad|id", many,
	} {
		_, err := verifyClaims(t, nil, jwt.MapClaims{"agents": bad})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "agents claim") {
			t.Errorf("agents %v: %v, want a refusal naming the agents claim", bad, err)
		}
	}
	for _, good := range [][]string{{strings.Repeat("a", agentid.MaxLen)}, {strings.Repeat("a", agentid.MaxLen) + "*"}, {".*"}, {"a.b_c:d-e"}} {
		if _, err := verifyClaims(t, nil, jwt.MapClaims{"agents": good}); err != nil {
			t.Errorf("agents %q: %v", good, err)
		}
	}
}

// TestScopes: scope (a string, or a list), else scp; none means read and
// write; agents:admin grants everything; other scopes count for nothing.
func TestScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		claims jwt.MapClaims
		want   Permission
	}{
		{nil, Read | Write},
		{jwt.MapClaims{"scope": nil}, Read | Write},
		{jwt.MapClaims{"scope": "agents:read"}, Read},
		{jwt.MapClaims{"scope": "openid profile"}, 0},
		{jwt.MapClaims{"scope": ""}, 0},
		{jwt.MapClaims{"scope": "agents:write openid"}, Write},
		{jwt.MapClaims{"scope": "agents:admin"}, Read | Write | Admin},
		{jwt.MapClaims{"scope": []string{"agents:read", "agents:write"}}, Read | Write},
		{jwt.MapClaims{"scp": []string{"agents:read"}}, Read},
		{jwt.MapClaims{"scp": "agents:write"}, Write},
		{jwt.MapClaims{"scope": "agents:read", "scp": []string{"agents:admin"}}, Read},
		{jwt.MapClaims{"scope": "Agents:Read agents:read:extra"}, 0},
	} {
		id, err := verifyClaims(t, nil, tc.claims)
		if err != nil || id.Perms != tc.want {
			t.Errorf("%v: perms %b, %v; want %b", tc.claims, id.Perms, err, tc.want)
		}
	}
	for _, bad := range []jwt.MapClaims{{"scope": 1}, {"scope": []any{1}}, {"scp": map[string]any{}}} {
		if _, err := verifyClaims(t, nil, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: %v, want a refusal", bad, err)
		}
	}
}

func TestCheckDefaultAgents(t *testing.T) {
	t.Parallel()
	for _, ok := range [][]string{nil, {"{sub}"}, {"{sub}:*"}, {"{sub}", "{sub}:*"}, {"u:{sub}", "u:{sub}:chat-*"}, {"x{sub}:a.b"}} {
		if err := CheckDefaultAgents(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		list []string
		says string
	}{
		{[]string{"shared"}, "must hold {sub} once"},
		{[]string{"{sub}{sub}"}, "must hold {sub} once"},
		{[]string{"{sub}*"}, "must end at {sub} or go on with a ':'"},
		{[]string{"{sub}-x"}, "must end at {sub} or go on with a ':'"},
		{[]string{"{sub}:a*b"}, "must end at {sub}"},
		{[]string{"{sub}:{x}"}, "must end at {sub}"},
		{[]string{"*{sub}"}, "before {sub}"},
		{[]string{"a b{sub}"}, "before {sub}"},
		{[]string{"{sub}:*", "chat:{sub}"}, "the same text before {sub}"},
	} {
		err := CheckDefaultAgents(tc.list)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want it to say %q", tc.list, err, tc.says)
		}
	}
}

// TestDefaultAgentsKeepSubjectsApart: whatever the subjects, the default
// agents of one reach none of another's. Subjects that would break this
// ("*", "alice:x", "auth0|1") get no default agents.
func TestDefaultAgentsKeepSubjectsApart(t *testing.T) {
	t.Parallel()
	tmpl, err := parseTemplates([]string{"p:{sub}", "p:{sub}:*", "p:{sub}:c-*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"*", "a*", "alice:x", "auth0|123", "a@b.example", "", strings.Repeat("a", agentid.MaxLen+1)} {
		if got := tmpl.expand(sub); len(got) != 0 {
			t.Errorf("subject %q: %q, want no default agents", sub, got)
		}
	}
	user := func(sub string) Identity {
		return Identity{Kind: KindUser, Subject: sub, Agents: tmpl.expand(sub), Perms: Read}
	}
	// Each subject's own agents: the templates with * as some suffix.
	ownAgents := func(sub string) []string {
		return []string{"p:" + sub, "p:" + sub + ":", "p:" + sub + ":x", "p:" + sub + ":c-1", "p:" + sub + ":a:b"}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab:.-_*|"
	subjects := []string{"a", "a.", "a-", "a_b", "ab", "a:b", "b"}
	for range 300 {
		b := make([]byte, 1+rng.IntN(4))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		subjects = append(subjects, string(b))
	}
	for _, s := range subjects {
		for _, other := range subjects {
			if s == other || !fitsTemplate(other) {
				continue
			}
			for _, agent := range ownAgents(other) {
				if user(s).Reaches(agent) {
					t.Fatalf("subject %q (agents %q) reaches %q, an agent of subject %q", s, user(s).Agents, agent, other)
				}
			}
		}
		if fitsTemplate(s) && !user(s).Reaches("p:"+s) {
			t.Fatalf("subject %q does not reach its own agent", s)
		}
	}
}

func TestCheckAgentsClaim(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"agents", "https://app.example.com/agents", "x-agents", "ns:agents"} {
		if err := CheckAgentsClaim(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a,b", `a"b`, `a\b`, "a b", "sub", "Scope", "scp", strings.Repeat("a", 129), "agénts"} {
		if err := CheckAgentsClaim(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzClaims decodes any payload as the verifier does before it checks the
// signature, and turns it into an identity: never a panic, and every
// identity's patterns are ones Reaches understands.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"alice","exp":1,"agents":["a","b:*"],"scope":"agents:read"}`), false)
	f.Add([]byte(`{"sub":"alice","agents":"a b","scp":["agents:admin"],"aud":["x","y"]}`), true)
	f.Add([]byte(`{"sub":"*","x/agents":7}`), true)
	f.Add([]byte(`{"sub":"a:b","exp":1e308,"nbf":-1e308,"agents":null}`), false)
	f.Add([]byte(`{"sub":"a","agents":[null],"scope":[1]}`), false)
	f.Add([]byte(`[]`), false)
	tmpl, err := parseTemplates([]string{"{sub}", "{sub}:*"})
	if err != nil {
		f.Fatal(err)
	}
	named := agentsClaimType("x/agents")
	f.Fuzz(func(t *testing.T, payload []byte, custom bool) {
		c := claims{}
		name := DefaultAgentsClaim
		if custom {
			c.named, name = named, "x/agents"
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			return
		}
		v := &JWT{claim: name, templates: tmpl}
		if c.ExpiresAt == nil {
			return // the parser refuses these before identity
		}
		id, err := v.identity(&c)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
			return
		}
		if id.Kind != KindUser || id.Subject == "" {
			t.Fatalf("identity %+v", id)
		}
		for _, p := range id.Agents {
			if err := checkPattern(p); err != nil {
				t.Fatalf("pattern %q: %v", p, err)
			}
		}
	})
}

// FuzzVerify hands the verifier any text as a token: it is refused with
// ErrInvalid or ErrExpired, never accepted (the fuzzer cannot sign), never
// a panic.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	valid := signWith(f, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(clk.Now(), "alice", nil))
	f.Add(valid)
	f.Add(valid[:len(valid)-2])
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(signWith(f, jwt.SigningMethodHS256, "k", []byte("another secret, 32 bytes long...."), userClaims(clk.Now(), "bob", nil)))
	v, err := NewJWT(JWTConfig{Secret: testSecret, Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if token == valid {
			return
		}
		if err == nil || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrExpired)) || id.Kind != KindAnonymous {
			t.Fatalf("%q: %+v, %v", token, id, err)
		}
	})
}
