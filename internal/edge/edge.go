// Package edge is the one policy that every way into the gateway goes
// through: Connect, gRPC and gRPC-Web calls, the WebSocket's upgrade and
// each of its frames, the frontend doors (AG-UI, the AI SDK) and the
// console. Each way in is a door (Door), and the policy treats every door
// alike, in the same order:
//
//   - it authenticates: a bearer token becomes an identity.Identity through
//     the Verifiers, tried in order (AUTH_TOKENS is one; none configured
//     means everyone is Anonymous), and the identity rides in the request's
//     context (IdentityFrom) to the service and the logs;
//   - it checks the browser's origin (ALLOWED_ORIGINS), and answers CORS;
//   - it admits long-lived connections under MAX_CONNECTIONS and
//     CONNECTION_RATE (sockets, Connect streams, the doors' streams), and
//     a user's under USER_MAX_CONNECTIONS; a socket's frames under
//     WS_FRAME_RATE;
//   - it authorizes: every call needs a permission on the agent it names
//     (the table of needOf), a socket's upgrade needs Read for its push
//     (the console's Admin), a door's request Write; a stream is
//     authorized on its first request before it is admitted, so a refused
//     one takes no place;
//   - it limits what a user spends: every message, whichever way it comes
//     in, counts against USER_MESSAGE_RATE (userlimits.go);
//   - it bounds a connection's life by its token's (expiry.go): a stream
//     ends with unauthenticated at the token's exp plus AUTH_EXPIRY_GRACE,
//     and a socket, which may be handed a fresh token on the way
//     (Refresh), is closed then by the bridge;
//   - it observes: one access-log line per call and door request, the
//     metrics of calls, sockets, frames and doors, each labelled by door,
//     and every refusal counted by reason and door.
//
// A refusal is a *Refusal: the status, code and message the client gets
// (401 unauthenticated, with what is wrong with the token; 403
// permission_denied; 429 resource_exhausted for a user over its limits,
// 503 resource_exhausted for a server at its caps), and the reason the
// logs and metrics give, never a token. The refusals a door makes for
// reasons of its own (the socket's bad agent id, a frame for another
// agent, a flood) go through the policy too (Refuse, SocketRefused), and
// the console's check runs the upgrade's steps dry (CheckUpgrade).
//
// How a door meets the policy depends on its wire. A Connect handler is
// wrapped by Protect (CORS, then authentication before the body is read)
// and built with Interceptor (observation, stream admission,
// authorization). The socket and the doors call the policy's steps in
// order themselves; the socket's calls run in process through Unary and
// Stream, which do for a frame what the interceptor does for a Connect
// call.
//
// A Policy is safe for concurrent use. Its locks (the connection rate's
// limiter, the logger's) are leaves: it calls out of the package with none
// held (the Verifiers' own, such as the JWT cache's, are leaves too).
package edge

import (
	"log/slog"
	"net/http"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/metrics"
	"github.com/agentgate/agentgate/internal/origin"
	"github.com/agentgate/agentgate/internal/userlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
)

// Door names a way in, in logs and metrics. The console has none of its
// own: its page talks through the socket, and its check of a refused
// socket (CheckUpgrade) explains a refusal the socket's door observed
// already.
type Door string

// The doors.
const (
	Connect   Door = "connect"
	GRPC      Door = "grpc"
	GRPCWeb   Door = "grpcweb"
	WebSocket Door = "websocket"
	AGUI      Door = "agui"
	AISDK     Door = "aisdk"
	// Metrics is /metrics on the public port, which needs a token too.
	Metrics Door = "metrics"
)

// Config is what the policy is told by the wiring. Every field but the
// limits may be left zero; the limits' zero is "no limit", so the wiring
// passes the configuration's values (MAX_CONNECTIONS, …) explicitly.
type Config struct {
	// Verifiers turn a bearer token into an identity, tried in order (see
	// Policy.Authenticate). None: authentication is off, and every caller
	// is identity.Anonymous.
	Verifiers []Verifier
	// AllowedOrigins are ALLOWED_ORIGINS' patterns, already validated by
	// the configuration. Empty: any origin.
	AllowedOrigins []string
	// MaxConnections caps the long-lived connections open at once
	// (sockets, Connect streams, door streams); 0 is no cap.
	MaxConnections int
	// ConnectionRate is how many new ones may start per second, with
	// bursts of twice that; 0 is no limit.
	ConnectionRate float64
	// FrameRate is how many frames per second one socket may send, with
	// bursts of twice that; 0 is no limit.
	FrameRate float64
	// ExpiryGrace is AUTH_EXPIRY_GRACE: how long a connection outlives the
	// token it was opened with (see Deadline).
	ExpiryGrace time.Duration
	// UserLimits are USER_MESSAGE_RATE and USER_MAX_CONNECTIONS. Nil: no
	// user is limited.
	UserLimits *userlimit.Limits
	// Metrics counts what the policy observes. Nil: nothing is counted.
	Metrics *metrics.Metrics
	// Logger receives the access log and the refusals. Default
	// slog.Default().
	Logger *slog.Logger
}

// Policy is the edge's policy.
type Policy struct {
	verifiers []Verifier
	origins   *origin.Policy
	cors      *cors.Cors
	gate      *limit.Gate
	frameRate float64
	grace     time.Duration
	limits    *userlimit.Limits
	m         *metrics.Metrics
	log       *slog.Logger
	// The socket counters, resolved once: a label lookup per frame is not
	// free. Nil without metrics.
	framesIn, framesOut prometheus.Counter
}

// New returns the policy of cfg.
func New(cfg Config) *Policy {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Policy{
		verifiers: cfg.Verifiers,
		origins:   origin.New(cfg.AllowedOrigins),
		gate:      limit.NewGate(cfg.MaxConnections, cfg.ConnectionRate),
		frameRate: cfg.FrameRate,
		grace:     cfg.ExpiryGrace,
		limits:    cfg.UserLimits,
		m:         cfg.Metrics,
		log:       cfg.Logger,
	}
	p.cors = cors.New(cors.Options{
		AllowOriginFunc: p.origins.Allowed,
		AllowedMethods:  connectcors.AllowedMethods(),
		AllowedHeaders:  append(connectcors.AllowedHeaders(), "Authorization", "X-Request-Id"),
		ExposedHeaders:  append(connectcors.ExposedHeaders(), "X-Request-Id"),
		MaxAge:          7200,
	})
	if p.m != nil {
		p.framesIn = p.m.WSFrames.WithLabelValues("in")
		p.framesOut = p.m.WSFrames.WithLabelValues("out")
	}
	return p
}

// Authenticates reports whether a token is required: some Verifier is
// configured.
func (p *Policy) Authenticates() bool { return len(p.verifiers) > 0 }

// AllowsAnyOrigin reports whether every origin is allowed.
func (p *Policy) AllowsAnyOrigin() bool { return p.origins.AllowsAny() }

// CheckOrigin refuses, with 403, a browser request from an origin that
// ALLOWED_ORIGINS does not allow, and observes the refusal.
func (p *Policy) CheckOrigin(r *http.Request, d Door) *Refusal {
	ref := p.originStep(r)
	if ref != nil {
		p.refused(r, d, ref)
	}
	return ref
}

// originStep is CheckOrigin without observing: a request without an
// Origin header (not from a browser, so no cross-site risk) or from an
// allowed origin passes.
func (p *Policy) originStep(r *http.Request) *Refusal {
	if p.origins.CheckRequest(r) {
		return nil
	}
	return originRefusal()
}
