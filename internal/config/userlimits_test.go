package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/userlimit"
)

func TestUserLimits(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.UserLimits(); got != (userlimit.Config{MessageRate: 30, MaxConnections: 100}) {
		t.Fatalf("defaults: %+v, want 30 messages a minute and 100 connections", got)
	}
	secret := strings.Repeat("s", 32)
	for _, tc := range []struct {
		rate, conns string
		want        userlimit.Config
	}{
		{"0", "0", userlimit.Config{}},
		{"1", "1", userlimit.Config{MessageRate: 1, MaxConnections: 1}},
		{"1000000", "10000000", userlimit.Config{MessageRate: 1_000_000, MaxConnections: 10_000_000}},
	} {
		c, err := Load(env(map[string]string{"USER_MESSAGE_RATE": tc.rate, "USER_MAX_CONNECTIONS": tc.conns, "AUTH_JWT_SECRET": secret}))
		if err != nil || c.UserLimits() != tc.want || len(c.Warnings) != 0 {
			t.Errorf("%s, %s: %+v, %v, warnings %q; want %+v", tc.rate, tc.conns, c.UserLimits(), err, c.Warnings, tc.want)
		}
	}
	for _, tc := range []struct{ name, value string }{
		{"USER_MESSAGE_RATE", "-1"}, {"USER_MESSAGE_RATE", "1000001"}, {"USER_MESSAGE_RATE", "1.5"}, {"USER_MESSAGE_RATE", "ten"},
		{"USER_MAX_CONNECTIONS", "-1"}, {"USER_MAX_CONNECTIONS", "10000001"},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != tc.name || !strings.Contains(err.Error(), "want a whole number from 0 to") {
			t.Errorf("%s=%q: %v, want one line naming %s and its bounds", tc.name, tc.value, err, tc.name)
		}
	}
}

// TestUserLimitsWithoutJWT warns of a user limit that limits no one,
// since no JWT is accepted; turning it off is not worth a warning.
func TestUserLimitsWithoutJWT(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"USER_MESSAGE_RATE": "10", "USER_MAX_CONNECTIONS": "5", "AUTH_TOKENS": "aaaaaaaaaaaaaaaa"}))
	if err != nil || len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "USER_MESSAGE_RATE is set but") ||
		!strings.Contains(c.Warnings[1], "USER_MAX_CONNECTIONS is set but") {
		t.Fatalf("%v, warnings %q; want one for each", err, c.Warnings)
	}
	c, err = Load(env(map[string]string{"USER_MESSAGE_RATE": "0", "USER_MAX_CONNECTIONS": "0"}))
	if err != nil || len(c.Warnings) != 0 {
		t.Fatalf("%v, warnings %q; want none", err, c.Warnings)
	}
}
