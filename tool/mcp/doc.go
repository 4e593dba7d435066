// Package mcp offers the tools of MCP servers to an agent's model, as a
// tool.Source: the gateway lists them for every step of a run, and runs the
// calls the model makes. It is a client of the Model Context Protocol
// through the official Go SDK (github.com/modelcontextprotocol/go-sdk),
// over Streamable HTTP and over stdio.
//
// # Servers
//
// MCP_SERVERS is a JSON array, or @path to a file that holds one, of
// servers (LoadServers reads it):
//
//	[
//	  {"name": "notion", "url": "https://mcp.notion.com/mcp",
//	   "headers": {"Authorization": "Bearer ${NOTION_TOKEN}"}},
//	  {"name": "everything", "command": ["npx", "-y", "@modelcontextprotocol/server-everything"],
//	   "env": {"API_KEY": "${EVERYTHING_KEY}"}, "tools": ["echo", "get-sum"]}
//	]
//
// A server has a name, and either a url (Streamable HTTP, with optional
// headers) or a command (an argument list, run with its standard input
// and output as the transport, with optional env); tools, if set, allows
// only the tools it names. In url, header values and env values, ${NAME}
// is replaced with the environment variable NAME, which must be set, so
// that secrets stay out of the file; $$ is a literal $. Those values, the
// URL's password and query values, and the values of headers that carry
// credentials are secrets: never logged, never shown (Server.Secrets).
// A command gets only PATH, HOME, USER, LOGNAME, SHELL, TERM, TMPDIR,
// LANG, LC_ALL and TZ of the gateway's environment, and its env: never the
// gateway's own secrets.
//
// # Tool names
//
// A tool is offered as server__tool, so that two servers' tools never
// share a name. A tool whose name has characters the model APIs refuse
// (outside a-z A-Z 0-9 _ -), or that would make the whole longer than 64
// characters, is offered as server__ its valid characters (others
// replaced by _, cut to fit), _ and 8 hex digits of a hash of its name;
// the Source maps each offered name back to the server's exactly. Its
// description (or title) and input schema are the server's. The list is
// listed again when the server says it changed (notifications/tools/
// list_changed), and after each reconnection; a server's tools are offered
// only while it is connected. The Source owns (tool.Owner) every name of
// its servers' prefixes, offered now or not: the gateway keeps client
// tools out of them.
//
// # Results
//
// A call's result is text for the model: the text contents, joined by
// line breaks; the structured content as JSON, unless a text content is
// already that JSON; an image or audio as "[image: image/png, 1234
// bytes]"; a resource link as "[resource link: uri (name): description]";
// an embedded resource as its text under "[resource: uri]", or "[resource:
// uri, type, N bytes]" for a blob. isError makes the Result's IsError.
// A text longer than MaxResultBytes (TOOL_RESULT_MAX_BYTES) is cut on a
// character's boundary and ended with "[… result cut: N of M bytes
// shown]", within the limit.
//
// # Faults
//
// Nothing a server does sticks a call: each call is bounded by Timeout
// (TOOL_TIMEOUT) and by its context (a cancelled run, a shutdown), and
// every failure is a *CallError whose text the model can read and whose
// Kind counts it: no such tool (or no longer), arguments that are not an
// object, a server unavailable, a timeout, a cancellation, a protocol
// error, a connection that failed during the call.
//
// New does not wait for the servers: one that is down at start is retried
// with backoff (ReconnectMin to ReconnectMax, with jitter) until it
// answers, and so is one whose session ends or breaks (its command exited,
// its connection failed, its HTTP session was lost). A command runs once
// per Source, started again when it exits; Close closes its input, as the
// MCP specification asks, sends SIGTERM to its process group after 2s, and
// SIGKILL after 2s more, or at once when Close's context is done.
//
// # Observability
//
// Status gives each server's state for /health's body: connecting, ready
// with its number of tools, down with a short reason, or closed, and
// since when; never a URL, a command or a secret. Each call writes one log
// line (message "mcp call": mcp_server, tool, duration_ms, outcome,
// result_bytes, and agent, run_id and tool_call_id when the context has a
// tool.CallInfo, as the gateway's calls do; never the arguments or the
// result), and is told to the
// Observer with its duration, for metrics; each change of a server's
// state is logged and told too. A command's standard error is logged at
// debug level.
package mcp
