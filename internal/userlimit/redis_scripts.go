package userlimit

import (
	"embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis limiter's Lua scripts are the files of lua/, embedded in the
// binary; each file's header says its KEYS, its ARGV and what it returns.
// Every script starts with clock.lua, the one place that says which time
// they read. Like the engine's, they return a flat list of name/value
// pairs, which reads the same over RESP2 and RESP3.
//
//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, built once from the embedded files and never changed.
var (
	scriptAllow   = luaScript("clock.lua", "allow.lua")
	scriptEnter   = luaScript("clock.lua", "conns.lua", "enter.lua")
	scriptRefresh = luaScript("clock.lua", "conns.lua", "refresh.lua")
)

// luaScript joins the named files of lua/ into one script. The names are
// fixed at build time, so a missing file is a bug that every test of the
// package finds at once.
func luaScript(names ...string) *redis.Script {
	var src []byte
	for _, name := range names {
		b, err := luaFiles.ReadFile("lua/" + name)
		if err != nil {
			panic(fmt.Sprintf("userlimit: embedded script %s: %v", name, err))
		}
		src = append(append(src, b...), '\n')
	}
	return redis.NewScript(string(src))
}

// result is a script's name/value pairs.
type result map[string]any

// decode reads a script's name/value pairs.
func decode(script string, cmd *redis.Cmd) (result, error) {
	vals, err := cmd.Slice()
	if err != nil {
		return nil, err
	}
	if len(vals)%2 != 0 {
		return nil, fmt.Errorf("userlimit: redis: %s returned %d values, not name/value pairs", script, len(vals))
	}
	res := make(result, len(vals)/2)
	for i := 0; i < len(vals); i += 2 {
		name, ok := vals[i].(string)
		if !ok {
			return nil, fmt.Errorf("userlimit: redis: %s returned a %T where a name belongs", script, vals[i])
		}
		res[name] = vals[i+1]
	}
	return res, nil
}

// status is the result's status, which must be one of want.
func (r result) status(script string, want ...string) (string, error) {
	s, _ := r["status"].(string)
	for _, w := range want {
		if s == w {
			return s, nil
		}
	}
	return "", fmt.Errorf("userlimit: redis: %s returned status %q", script, s)
}

// int is the result's integer called name.
func (r result) int(script, name string) (int64, error) {
	switch v := r[name].(type) {
	case int64:
		return v, nil
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("userlimit: redis: %s returned %s %v, not an integer", script, name, r[name])
}

// decodeAllow reads allow.lua's result.
func decodeAllow(cmd *redis.Cmd) (ok bool, retry time.Duration, err error) {
	const script = "allow.lua"
	res, err := decode(script, cmd)
	if err != nil {
		return false, 0, err
	}
	status, err := res.status(script, "allowed", "refused")
	if err != nil || status == "allowed" {
		return err == nil, 0, err
	}
	us, err := res.int(script, "retry_after")
	if err != nil {
		return false, 0, err
	}
	return false, time.Duration(us) * time.Microsecond, nil
}

// decodeEnter reads enter.lua's result: whether the connection entered.
func decodeEnter(cmd *redis.Cmd) (bool, error) {
	const script = "enter.lua"
	res, err := decode(script, cmd)
	if err != nil {
		return false, err
	}
	status, err := res.status(script, "entered", "full")
	return status == "entered", err
}
