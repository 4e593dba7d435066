package tool

import "context"

// CallInfo says which call of a tool a Source runs: the agent whose run
// made it, the run, and the call's id. The gateway puts it in the context
// of every Call, so that a Source can name the call in its logs (the MCP
// source does) and a tool can know whose it is.
type CallInfo struct {
	AgentID    string
	RunID      string
	ToolCallID string
}

type callInfoKey struct{}

// WithCallInfo returns ctx carrying info.
func WithCallInfo(ctx context.Context, info CallInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, info)
}

// CallInfoFrom returns the CallInfo ctx carries, if any.
func CallInfoFrom(ctx context.Context) (CallInfo, bool) {
	info, ok := ctx.Value(callInfoKey{}).(CallInfo)
	return info, ok
}

// Owner is a Source that owns names beyond the tools it offers now: names
// it may offer later. The MCP source owns every name of its servers'
// prefixes (server__…), whether the server is up or not. The gateway
// refuses a client tool whose name a Source owns, as it refuses one with
// an offered server tool's name, so that a server tool that appears later
// (its server came up, or listed a new tool) never takes a client tool's
// name; and it sends a call of an owned name that is not offered at the
// moment (an approved call whose server went down meanwhile) to its
// Owner, whose error says why it cannot run.
type Owner interface {
	Owns(name string) bool
}
