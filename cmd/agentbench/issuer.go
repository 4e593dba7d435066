package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/bench"
)

// jwtIssuer is "agentbench jwt-issuer": it makes a key of -alg, mints a
// user's JWT with it (subject bench, every agent, every scope, valid for a
// day), and prints the gateway's settings and the token as shell
// assignments, for the benchmarks of users' JWTs:
//
//	AUTH_JWKS_URL=http://127.0.0.1:PORT/jwks
//	AUTH_JWT_ISSUER=https://idp.bench/
//	AUTH_JWT_AUDIENCE=agentgate
//	JWT=eyJ…
//
// For RS256 and ES256 it then serves the key set until it gets SIGINT or
// SIGTERM; for HS256 it signs with -secret (the gateway's AUTH_JWT_SECRET),
// prints AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE and JWT, and ends.
func jwtIssuer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentbench jwt-issuer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", "ES256", "the signing method: ES256 or RS256 (a key set served), or HS256 (with -secret)")
	secret := fs.String("secret", "", "HS256: the gateway's AUTH_JWT_SECRET")
	addr := fs.String("addr", "127.0.0.1:0", "where the key set is served")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	iss, err := bench.StartIssuer(*alg, *secret, *addr)
	if err != nil {
		fmt.Fprintln(stderr, "agentbench:", err)
		return 2
	}
	if iss.URL != "" {
		fmt.Fprintf(stdout, "AUTH_JWKS_URL=%s\n", iss.URL)
	}
	fmt.Fprintf(stdout, "AUTH_JWT_ISSUER=%s\nAUTH_JWT_AUDIENCE=%s\nJWT=%s\n", bench.IssuerName, bench.IssuerAudience, iss.Token)
	if iss.URL == "" {
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = iss.Close(shut)
	return 0
}
