package agentgate

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"github.com/agentgate/agentgate/tool/mcp"
)

// defaults is the server binary's configuration with no variable set.
func defaults(t *testing.T) config.Config {
	t.Helper()
	c, err := config.LoadWith(func(string) (string, bool) { return "", false }, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestZeroConfigIsTheBinarysDefaults: Config{} is what the server binary
// runs with an empty environment, the echo responder included.
func TestZeroConfigIsTheBinarysDefaults(t *testing.T) {
	got, err := Config{}.load()
	if err != nil {
		t.Fatal(err)
	}
	if want := defaults(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("Config{} loads as\n%+v\nwant the defaults\n%+v", got, want)
	}
	got, err = Config{Responder: responder.Echo{}}.load()
	if err != nil || got.Responder.Kind != "custom" {
		t.Fatalf("with a Responder: kind %q, %v; want custom", got.Responder.Kind, err)
	}
}

// TestEveryFieldReachesTheGateway sets every field of Config that has a
// variable to a value other than its default, and finds each in the
// loaded configuration: no field is dropped on the way, and none is
// forgotten in settings.
func TestEveryFieldReachesTheGateway(t *testing.T) {
	c := Config{
		RedisURL:             "redis://127.0.0.1:6390/2",
		HistoryLimit:         77,
		ContextMessages:      7,
		LeaseTTL:             3 * time.Second,
		ReplyTimeout:         9 * time.Second,
		MaxTextBytes:         999,
		MaxReplyBytes:        65536,
		MaxContextBytes:      4096,
		ToolTimeout:          7 * time.Second,
		ToolResultMaxBytes:   2048,
		ClientTools:          []tool.Def{{Name: "get_location", Description: "Where the user is.", Parameters: json.RawMessage(`{"type":"object","properties":{"precise":{"type":"boolean"}}}`)}},
		ToolApproval:         []string{"send_email", "pay"},
		MaxSteps:             4,
		ContextTokens:        8000,
		AuthTokens:           []string{"0123456789abcdef", "fedcba9876543210"},
		JWTSecret:            "0123456789abcdef0123456789abcdef",
		JWTIssuer:            "https://idp.example.com/",
		JWTAudience:          "agentgate",
		AgentsClaim:          "https://app.example.com/agents",
		DefaultAgents:        []string{"{sub}", "{sub}:*"},
		ExpiryGrace:          5 * time.Second,
		UserMessageRate:      12,
		UserMaxConnections:   3,
		AllowedOrigins:       []string{"https://a.example.com", "*.b.example.com"},
		MaxConnections:       12,
		ConnectionRate:       2.5,
		ReadMaxBytes:         4096,
		Heartbeat:            700 * time.Millisecond,
		WSPingInterval:       2 * time.Second,
		WSPongTimeout:        5 * time.Second,
		WSReadLimit:          1024,
		WSSendQueue:          8,
		WSFrameRate:          1.5,
		DisableConsole:       true,
		ShutdownTimeout:      4 * time.Second,
		DrainDelay:           time.Second,
		ReadHeaderTimeout:    3 * time.Second,
		MaxHeaderBytes:       8192,
		MaxConcurrentStreams: 9,
	}
	c.MCPServers = []mcp.Server{
		{Name: "files", Command: []string{"mcp-files", "${HOME}"}, Env: map[string]string{"PRICE": "${5}$"}, Secrets: []string{"s3cr3t-given"}},
		{Name: "notion", URL: "https://mcp.notion.com/mcp?x=${Y}", Headers: map[string]string{"Authorization": "Bearer $token-value"}},
	}
	// Every field is either one of settings, set above, or brought by the
	// program itself.
	own := map[string]bool{"Responder": true, "Logger": true, "Version": true, "Redis": true, "Tools": true}
	// JWKSURL is JWTSecret's alternative: checked below, by itself.
	alternative := map[string]bool{"JWKSURL": true}
	listed := map[string]bool{}
	for _, s := range c.settings() {
		listed[s.field] = true
	}
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch {
		case own[name]:
		case !listed[name]:
			t.Errorf("Config.%s is not in settings: it never reaches the gateway", name)
		case alternative[name]:
		case v.Field(i).IsZero():
			t.Errorf("Config.%s is not set by this test", name)
		}
	}

	got, err := c.load()
	if err != nil {
		t.Fatal(err)
	}
	want := defaults(t)
	want.RedisURL = c.RedisURL
	want.HistoryLimit = c.HistoryLimit
	want.Responder.ContextMessages = c.ContextMessages
	want.LeaseTTL = c.LeaseTTL
	want.ReplyTimeout = c.ReplyTimeout
	want.MaxTextBytes = c.MaxTextBytes
	want.MaxReplyBytes = c.MaxReplyBytes
	want.MaxContextBytes = c.MaxContextBytes
	// The values arrive as they are, and the secrets are the program's
	// and those the parser finds: a credential header's, a URL's query.
	want.Tools.MCPServers = []mcp.Server{
		{Name: "files", Command: []string{"mcp-files", "${HOME}"}, Env: map[string]string{"PRICE": "${5}$"}, Secrets: []string{"s3cr3t-given"}},
		{Name: "notion", URL: "https://mcp.notion.com/mcp?x=${Y}", Headers: map[string]string{"Authorization": "Bearer $token-value"},
			Secrets: []string{"${Y}", "Bearer $token-value", "$token-value"}},
	}
	want.Tools.Timeout = c.ToolTimeout
	want.Tools.ResultMaxBytes = c.ToolResultMaxBytes
	want.Tools.Client = c.ClientTools
	want.Tools.Approval = c.ToolApproval
	want.Tools.MaxSteps = c.MaxSteps
	want.Tools.ContextTokens = c.ContextTokens
	want.AuthTokens = c.AuthTokens
	want.JWT = config.JWT{Secret: c.JWTSecret, Issuer: c.JWTIssuer, Audience: c.JWTAudience, AgentsClaim: c.AgentsClaim,
		DefaultAgents: c.DefaultAgents, ExpiryGrace: c.ExpiryGrace}
	want.UserMessageRate = c.UserMessageRate
	want.UserMaxConnections = c.UserMaxConnections
	want.AllowedOrigins = c.AllowedOrigins
	want.MaxConnections = c.MaxConnections
	want.ConnectionRate = c.ConnectionRate
	want.ReadMaxBytes = c.ReadMaxBytes
	want.Heartbeat = c.Heartbeat
	want.WSPingInterval = c.WSPingInterval
	want.WSPongTimeout = c.WSPongTimeout
	want.WSReadLimit = c.WSReadLimit
	want.WSSendQueue = c.WSSendQueue
	want.WSFrameRate = c.WSFrameRate
	want.Console = false
	want.ShutdownTimeout = c.ShutdownTimeout
	want.DrainDelay = c.DrainDelay
	want.ReadHeaderTimeout = c.ReadHeaderTimeout
	want.MaxHeaderBytes = c.MaxHeaderBytes
	want.MaxConcurrentStreams = c.MaxConcurrentStreams
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", got, want)
	}

	none, err := Config{ContextMessages: -1}.load()
	if err != nil || none.Responder.ContextMessages != 0 {
		t.Fatalf("ContextMessages -1 loads as %d, %v; want 0, none", none.Responder.ContextMessages, err)
	}
	none, err = Config{ExpiryGrace: -1}.load()
	if err != nil || none.JWT.ExpiryGrace != 0 {
		t.Fatalf("ExpiryGrace -1 loads as %v, %v; want 0, none", none.JWT.ExpiryGrace, err)
	}
	none, err = Config{UserMessageRate: -1, UserMaxConnections: -1}.load()
	if err != nil || none.UserMessageRate != 0 || none.UserMaxConnections != 0 {
		t.Fatalf("UserMessageRate and UserMaxConnections -1 load as %d and %d, %v; want 0, no limit",
			none.UserMessageRate, none.UserMaxConnections, err)
	}

	c.JWTSecret, c.JWKSURL = "", "https://idp.example.com/jwks"
	got, err = c.load()
	if err != nil {
		t.Fatal(err)
	}
	want.JWT.Secret, want.JWT.JWKSURL = "", c.JWKSURL
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with JWKSURL: loaded\n%+v\nwant\n%+v", got, want)
	}
}

// TestBadConfigNamesTheField: a value outside the bounds the server binary
// applies to its variable is a *ConfigError naming Config's field, and a
// token is never echoed.
func TestBadConfigNamesTheField(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{HistoryLimit: -1}, "HistoryLimit"},
		{Config{ContextMessages: 1 << 20}, "ContextMessages"},
		{Config{LeaseTTL: time.Millisecond}, "LeaseTTL"},
		{Config{ReplyTimeout: -time.Second}, "ReplyTimeout"},
		{Config{WSPongTimeout: time.Second}, "WSPongTimeout"}, // not longer than the 25s ping
		{Config{DrainDelay: 20 * time.Second}, "DrainDelay"},  // not shorter than the 10s timeout
		{Config{ConnectionRate: -1}, "ConnectionRate"},        // a rate is positive
		{Config{WSReadLimit: 10}, "WSReadLimit"},              // 512 bytes at least
		{Config{RedisURL: "http://cache:6379"}, "RedisURL"},   // not redis://
		{Config{AllowedOrigins: []string{"ftp://x.com"}}, "AllowedOrigins"},
		{Config{AllowedOrigins: []string{"https://a.com,https://b.com"}}, "AllowedOrigins"},
		{Config{AuthTokens: []string{"short-secret"}}, "AuthTokens"},
		{Config{AuthTokens: []string{"0123456789abcdef,fedcba9876543210"}}, "AuthTokens"},
		{Config{MCPServers: []mcp.Server{{Name: "a__b", Command: []string{"x"}}}}, "MCPServers"},
		{Config{MCPServers: []mcp.Server{{Name: "a", URL: "ftp://x"}}}, "MCPServers"},
		{Config{ToolTimeout: time.Nanosecond}, "ToolTimeout"},
		{Config{ToolResultMaxBytes: 10}, "ToolResultMaxBytes"},
		{Config{JWTSecret: "short-secret"}, "JWTSecret"},
		{Config{JWKSURL: "https://idp/jwks", JWTSecret: "0123456789abcdef0123456789abcdef"}, "JWTSecret"},
		{Config{JWKSURL: "https://idp/jwks", JWTAudience: "a"}, "JWTIssuer"},
		{Config{JWKSURL: "idp/jwks", JWTIssuer: "i", JWTAudience: "a"}, "JWKSURL"},
		{Config{JWTSecret: "0123456789abcdef0123456789abcdef", DefaultAgents: []string{"everyone"}}, "DefaultAgents"},
		{Config{JWTSecret: "0123456789abcdef0123456789abcdef", DefaultAgents: []string{"{sub},x:{sub}"}}, "DefaultAgents"},
		{Config{JWTSecret: "0123456789abcdef0123456789abcdef", AgentsClaim: "scope"}, "AgentsClaim"},
		{Config{ExpiryGrace: 2 * time.Hour}, "ExpiryGrace"},
		{Config{UserMessageRate: 2_000_000}, "UserMessageRate"},
		{Config{UserMaxConnections: 20_000_000}, "UserMaxConnections"},
	} {
		t.Run(c.field, func(t *testing.T) {
			_, err := c.cfg.load()
			var cerr *ConfigError
			if !errors.As(err, &cerr) || cerr.Var != "Config."+c.field {
				t.Fatalf("load: %v; want a *ConfigError naming Config.%s", err, c.field)
			}
			for _, tok := range append(c.cfg.AuthTokens, c.cfg.JWTSecret) {
				if tok != "" && strings.Contains(err.Error(), tok) {
					t.Fatalf("the error %q echoes the token", err)
				}
			}
		})
	}
}

// binaryOnly are the variables of the README's configuration table that
// Config leaves to the program, each for a reason stated in Config's doc:
// the listener, the logger and the responder are the program's own.
var binaryOnly = map[string]string{
	"PORT": "listener", "HOST": "listener", "METRICS_ADDR": "listener: /metrics is one of Handler's routes",
	"LOG_LEVEL": "Logger", "LOG_FORMAT": "Logger",
	"RESPONDER": "Responder", "ECHO_DELAY": "Responder: responder.Echo{Delay}",
	"UPSTREAM_MAX_EVENT_BYTES": "Responder: openai.Config, agui.Config",
	"OPENAI_BASE_URL":          "Responder", "OPENAI_API_KEY": "Responder", "OPENAI_MODEL": "Responder",
	"SYSTEM_PROMPT": "Responder", "OPENAI_TEMPERATURE": "Responder", "AGUI_URL": "Responder", "AGUI_TOKEN": "Responder",
	"GOGC": "the Go runtime's", "GOMEMLIMIT": "the Go runtime's",
}

// TestEveryVariableHasAField reads the README's configuration table: every
// variable the server binary documents is a field of Config, or one that
// Config leaves to the program on purpose (binaryOnly). A new variable
// fails here until it has its field or its reason.
func TestEveryVariableHasAField(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, s := range (Config{}).settings() {
		fields[s.env] = true
	}
	section := strings.SplitN(string(readme), "## Configuration", 2)
	if len(section) != 2 {
		t.Fatal("the README has no Configuration section")
	}
	table := strings.SplitN(section[1], "\n## ", 2)[0]
	names := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	seen := 0
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range names.FindAllStringSubmatch(first, -1) {
			seen++
			if _, ok := binaryOnly[m[1]]; !fields[m[1]] && !ok {
				t.Errorf("%s is in the README's configuration table but not in Config: add a field, or its reason to binaryOnly", m[1])
			}
		}
	}
	if seen < 20 {
		t.Fatalf("read %d variables from the README's configuration table; the table's shape changed", seen)
	}
}
