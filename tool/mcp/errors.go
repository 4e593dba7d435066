package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os/exec"
	"time"

	"github.com/agentgate/agentgate/tool"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Outcome is how a call ended, a short stable word for metrics and logs.
type Outcome string

// The outcomes of a call. OK and ToolError are results (the tool ran);
// the others are a *CallError's Kind (it could not run, or did not end).
const (
	// OK: the tool ran and returned its result.
	OK Outcome = "ok"
	// ToolError: the tool ran and reported its own failure (isError).
	ToolError Outcome = "tool_error"
	// UnknownTool: no server offers a tool of that name (any more).
	UnknownTool Outcome = "unknown_tool"
	// BadArguments: the arguments are not a JSON object.
	BadArguments Outcome = "bad_arguments"
	// Unavailable: the tool's server is not connected.
	Unavailable Outcome = "unavailable"
	// Timeout: the call took longer than Config.Timeout.
	Timeout Outcome = "timeout"
	// Cancelled: the caller's context ended first (a cancelled run, a
	// shutdown).
	Cancelled Outcome = "cancelled"
	// Rejected: the server answered the call with a protocol error, such as
	// invalid arguments.
	Rejected Outcome = "rejected"
	// Failed: the connection to the server failed during the call.
	Failed Outcome = "failed"
)

// CallError is the error of Call: the tool did not run, or did not end.
// Its text is written for the model, which is shown it as the call's
// result, and reveals no secret of the configuration.
type CallError struct {
	// Kind says why, for metrics and logs.
	Kind Outcome
	// Server is the tool's server, or "" for an unknown tool.
	Server string
	// Tool is the name the model called.
	Tool string
	// msg is the sentence Error returns; err, the cause.
	msg string
	err error
}

func (e *CallError) Error() string { return e.msg }

// Unwrap returns the cause: tool.ErrUnknownTool for UnknownTool, the
// context's error for Timeout and Cancelled.
func (e *CallError) Unwrap() error { return e.err }

// errTimeout is the cause of a call's context that Config.Timeout ended.
var errTimeout = errors.New("tool call timed out")

// errClosed is the cause of the calls that Close ended.
var errClosed = errors.New("the MCP tool source is closed")

// codeRejectedByTransport is the code the SDK's JSON-RPC layer gives a
// request its transport could not deliver: not the server's answer.
const codeRejectedByTransport = -32005

// serverError returns the JSON-RPC error the server answered with, if err
// is one.
func serverError(err error) (*jsonrpc.Error, bool) {
	we, ok := errors.AsType[*jsonrpc.Error](err)
	if !ok || we.Code == codeRejectedByTransport {
		return nil, false
	}
	return we, true
}

// sessionLost reports whether err says the session cannot carry calls any
// more: its connection closed, its server forgot it, or the server cannot
// be reached at all. The server is then reconnected.
func sessionLost(err error) bool {
	if errors.Is(err, sdk.ErrConnectionClosed) || errors.Is(err, sdk.ErrSessionMissing) {
		return true
	}
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "dial"
}

// reason is a short, fixed phrase for why a server is down, fit for
// /health's body: never an address, a path or a credential (the log line
// has the whole cause).
func reason(err error) string {
	var exit *exitError
	switch {
	case errors.As(err, &exit):
		return exit.reason()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return "command not found"
	case errors.Is(err, fs.ErrPermission):
		return "command not permitted"
	case errors.Is(err, sdk.ErrSessionMissing):
		return "session lost"
	case errors.Is(err, sdk.ErrConnectionClosed), errors.Is(err, io.EOF):
		return "connection closed"
	}
	if se, ok := errors.AsType[*statusError](err); ok {
		return fmt.Sprintf("HTTP %d", se.code)
	}
	if _, ok := serverError(err); ok {
		return "refused the session"
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "dial" {
		return "unreachable"
	}
	return "connection failed"
}

// exitError is a stdio server's process that ended.
type exitError struct {
	code int // -1 when killed by a signal
	// stderr is the last line the process wrote on its standard error.
	stderr string
}

func (e *exitError) Error() string {
	msg := e.reason()
	if e.stderr != "" {
		msg += "; its last line on stderr: " + e.stderr
	}
	return msg
}

func (e *exitError) reason() string {
	if e.code < 0 {
		return "process killed"
	}
	return fmt.Sprintf("process exited with status %d", e.code)
}

// statusError is an HTTP status that ended a connection attempt, noted by
// the HTTP transport, since the SDK keeps it in its error's text only.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// unknownTool is Call's error for a name no server offers.
func unknownTool(name, server string, gone bool) *CallError {
	msg := fmt.Sprintf("no such tool: %q", name)
	if gone {
		msg = fmt.Sprintf("MCP server %q no longer offers the tool %q", server, name)
	}
	return &CallError{Kind: UnknownTool, Server: server, Tool: name, msg: msg, err: tool.ErrUnknownTool}
}

// since words a time for an error: how long ago, in seconds.
func since(t, now time.Time) string {
	return now.Sub(t).Round(time.Second).String()
}
