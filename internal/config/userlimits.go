package config

import "github.com/agentgate/agentgate/internal/userlimit"

// UserLimits is the configuration of userlimit.New.
func (c Config) UserLimits() userlimit.Config {
	return userlimit.Config{MessageRate: c.UserMessageRate, MaxConnections: c.UserMaxConnections}
}

// warnUnusedUserLimits warns of a user limit set without a way to verify
// users' JWTs: only users are limited, so it would limit no one.
func (p *parser) warnUnusedUserLimits() {
	for _, name := range []string{"USER_MESSAGE_RATE", "USER_MAX_CONNECTIONS"} {
		if v, set := p.get(name); set && v != "0" {
			p.warn(name + " is set but neither AUTH_JWKS_URL nor AUTH_JWT_SECRET is: it limits users' JWTs only, so it limits no one")
		}
	}
}
