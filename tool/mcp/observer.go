package mcp

import "time"

// State is where a server's connection stands.
type State string

// The states of a server.
const (
	// Connecting: the first connection has not answered yet.
	Connecting State = "connecting"
	// Ready: connected, its tools listed.
	Ready State = "ready"
	// Down: not connected; the Source retries, with backoff.
	Down State = "down"
	// Closed: Close was called.
	Closed State = "closed"
)

// Status is a server's state, for /health's body and the logs. It holds no
// secret: no URL, no command, no header, and Reason is a fixed phrase.
type Status struct {
	// Name is the server's name.
	Name string `json:"name"`
	// Transport is "http" or "stdio".
	Transport string `json:"transport"`
	// State is connecting, ready, down or closed.
	State State `json:"state"`
	// Tools is how many of its tools are offered, when ready.
	Tools int `json:"tools"`
	// Reason says why it is down, such as "unreachable", "HTTP 401" or
	// "process exited with status 1".
	Reason string `json:"reason,omitempty"`
	// Since is when it entered its state.
	Since time.Time `json:"since"`
}

// Call describes a call that ended, for metrics and logs. It holds no
// argument and no result.
type Call struct {
	// Server is the tool's server; "" for a name no server has.
	Server string
	// Tool is the name the server gives the tool; "" for a name no server
	// has (the name the model wrote is not a bounded label).
	Tool string
	// Outcome is how it ended.
	Outcome Outcome
	// Duration is how long Call took, from its start to its return.
	Duration time.Duration
	// ResultBytes is the length of the result before any cut.
	ResultBytes int
	// Cut reports a result longer than Config.MaxResultBytes, cut.
	Cut bool
}

// Observer is told what a Source does, for metrics. Its methods are called
// concurrently, from the Source's goroutines and Call's, and must return
// quickly.
type Observer interface {
	// Called is told of every call when it ends, before Call returns.
	Called(Call)
	// Changed is told a server's status whenever it changes: state, or the
	// number of tools offered.
	Changed(Status)
}

type nopObserver struct{}

func (nopObserver) Called(Call)    {}
func (nopObserver) Changed(Status) {}
