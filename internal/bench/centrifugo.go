package bench

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CentrifugoVersion is the Centrifugo release the figures are measured
// against; scripts/bench.sh installs it. It is a benchmark peer, not a
// dependency of the gateway: it never enters go.mod.
const CentrifugoVersion = "v6.9.1"

// CentrifugoNamespace is the one channel namespace of the generated
// configuration; every channel the tool uses lives in it.
const CentrifugoNamespace = "bench"

// centrifugoPortEnv is the variable Centrifugo v6 reads its HTTP port from
// (http_server.port), so that Start can hand it a free port as it hands
// PORT to the other servers.
const centrifugoPortEnv = "CENTRIFUGO_HTTP_SERVER_PORT"

// centrifugoChannel is the channel of name in the bench namespace.
func centrifugoChannel(name string) string { return CentrifugoNamespace + ":" + name }

// CentrifugoConfig is the configuration the tool runs Centrifugo with, as
// Centrifugo v6's JSON file: the memory engine, or with a redisURL its
// Redis engine (broker and presence) on that server, as the gateway's
// REDIS_URL puts the gateway's store there; one namespace whose channels
// keep a history of 1000 publications for 300 s, recover a subscription's
// missed publications on every subscribe (force_recovery: the gateway's
// event log resumes a socket too), and take publications from any client;
// and the insecure client mode, which accepts every connection as anonymous
// with no JWT, since the gateway's sockets carry no token either. It listens
// on loopback only and sends no usage statistics; the port comes from the
// environment.
func CentrifugoConfig(redisURL string) map[string]any {
	engine := map[string]any{"type": "memory"}
	if redisURL != "" {
		// Centrifugo's keys and channels carry its default prefix,
		// "centrifugo", apart from the gateway's.
		engine = map[string]any{"type": "redis", "redis": map[string]any{"address": []string{redisURL}}}
	}
	return map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1"},
		"engine":      engine,
		// The tool's dialer sends no Origin header, which Centrifugo lets
		// through without allowed_origins.
		"client": map[string]any{"insecure": true},
		"channel": map[string]any{
			"namespaces": []map[string]any{{
				"name":                          CentrifugoNamespace,
				"history_size":                  1000,
				"history_ttl":                   "300s",
				"force_recovery":                true,
				"allow_subscribe_for_client":    true,
				"allow_subscribe_for_anonymous": true,
				"allow_publish_for_client":      true,
				"allow_publish_for_subscriber":  true,
				"allow_publish_for_anonymous":   true,
			}},
		},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
}

// CentrifugoCommand writes CentrifugoConfig(redisURL) into dir and returns
// how to start bin with it.
func CentrifugoCommand(bin, dir, redisURL string) (Command, error) {
	data, err := json.MarshalIndent(CentrifugoConfig(redisURL), "", "  ")
	if err != nil {
		return Command{}, err
	}
	name := "centrifugo.json"
	if redisURL != "" {
		name = "centrifugo-redis.json"
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return Command{}, err
	}
	return Command{Path: bin, Args: []string{"--config", path}, PortEnv: centrifugoPortEnv}, nil
}

// CheckCentrifugo verifies that bin is Centrifugo at CentrifugoVersion, from
// the module version Go records in the binary (what `go version -m` shows),
// so that figures are never taken against another release by mistake.
func CheckCentrifugo(bin string) error {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	if !strings.HasPrefix(info.Main.Path, "github.com/centrifugal/centrifugo/") {
		return fmt.Errorf("%s is %q, not Centrifugo", bin, info.Main.Path)
	}
	if info.Main.Version != CentrifugoVersion {
		return fmt.Errorf("%s is Centrifugo %s, want %s (scripts/bench.sh installs it)", bin, info.Main.Version, CentrifugoVersion)
	}
	return nil
}
