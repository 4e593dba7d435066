package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/internal/redact"
)

// Server is one MCP server: a Streamable HTTP endpoint (URL) or a command
// that speaks MCP on its standard input and output (Command). Exactly one
// of the two is set. Its JSON form is an entry of MCP_SERVERS.
type Server struct {
	// Name identifies the server in logs, metrics and /health, and
	// prefixes the names of its tools (name__tool): 1 to 32 characters of
	// a-z A-Z 0-9 _ -, starting with a letter or a digit, not ending with
	// _ and without __, so that the prefix of a tool name tells its server.
	Name string `json:"name"`
	// URL is the Streamable HTTP endpoint, http:// or https://.
	URL string `json:"url,omitempty"`
	// Headers are sent with every request to URL's host (never to another
	// host a redirect leads to), such as Authorization.
	Headers map[string]string `json:"headers,omitempty"`
	// Command is the program and its arguments, started once per gateway
	// and again when it exits.
	Command []string `json:"command,omitempty"`
	// Env is the command's environment, added to the few variables it
	// takes from the gateway's: PATH, HOME, USER, LOGNAME, SHELL, TERM,
	// TMPDIR, LANG, LC_ALL and TZ, what programs need to run (find
	// executables, a home and a temporary directory, a locale); never the
	// gateway's own secrets.
	Env map[string]string `json:"env,omitempty"`
	// Tools, if set, are the only tools of the server offered to the model,
	// by the names the server gives them.
	Tools []string `json:"tools,omitempty"`
	// Secrets are values of URL, Headers and Env that must never be logged
	// or shown, besides those New finds itself: the URL's password and
	// query values, and the values of headers that carry credentials
	// (Authorization, Cookie, and any header whose name has key, token,
	// secret, password or auth in it). ParseServers adds the values of
	// the environment variables the entry names.
	Secrets []string `json:"-"`
}

// inheritedEnv are the variables of the gateway's environment that a
// command gets besides its Env (see Server.Env).
func inheritedEnv() []string {
	return []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "LANG", "LC_ALL", "TZ"}
}

// secrets are s.Secrets and the secrets its URL and headers show: its
// URL's password and query values, its credential headers' values (and
// what follows the scheme in them, such as a bearer token).
func (s Server) secrets() []string {
	out := append(redact.URLSecrets(s.URL), s.Secrets...)
	for name, v := range s.Headers {
		if credentialHeader(name) {
			out = append(out, v)
			if _, cred, ok := strings.Cut(v, " "); ok {
				out = append(out, strings.TrimSpace(cred))
			}
		}
	}
	return compact(out)
}

// Transport is "http" for a server with a URL, "stdio" for a command.
func (s Server) Transport() string {
	if len(s.Command) > 0 {
		return "stdio"
	}
	return "http"
}

// maxFileBytes bounds a file of servers (MCP_SERVERS=@path).
const maxFileBytes = 1 << 20

// LoadServers reads MCP_SERVERS: a JSON array of servers, or @path to a
// file holding one (a regular file, at most 1 MiB). lookup reads the
// environment variables that the entries name (os.LookupEnv in the server
// binary). The error is one line that names the entry at fault.
func LoadServers(value string, lookup func(string) (string, bool)) ([]Server, error) {
	value = strings.TrimSpace(value)
	path, ok := strings.CutPrefix(value, "@")
	if !ok {
		return ParseServers([]byte(value), lookup)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseServers(data, lookup)
}

// readFile reads a regular file of at most maxFileBytes: never a device or
// a pipe, which could block the start or never end.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %v", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %v", err)
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("want a regular file after @")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %v", err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("the file is larger than %d bytes", maxFileBytes)
	}
	return data, nil
}

// ParseServers parses a JSON array of servers, replacing the ${NAME}
// references of their URL, header values and env values with the values
// lookup gives (see the package doc), and checks every entry. The error is
// one line that names the entry at fault, and shows no secret.
func ParseServers(data []byte, lookup func(string) (string, bool)) ([]Server, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("want a JSON array of servers such as [{\"name\":\"files\",\"command\":[\"mcp-files\"]}], or @file with one: %v", oneLine(err.Error()))
	}
	out := make([]Server, 0, len(entries))
	seen := map[string]int{}
	for i, raw := range entries {
		s, err := parseEntry(raw, lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", entryName(i, raw), err)
		}
		if j, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("%s: the name is taken by entry %d; want a name per server", entryName(i, raw), j+1)
		}
		seen[s.Name] = i
		out = append(out, s)
	}
	return out, nil
}

// entryName names entry i for an error: its 1-based index, and its name
// if it has a readable one.
func entryName(i int, raw json.RawMessage) string {
	var named struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &named) == nil && named.Name != "" {
		return fmt.Sprintf("server %q (entry %d)", clipName(named.Name), i+1)
	}
	return fmt.Sprintf("entry %d", i+1)
}

// clipName cuts a name that is too long to be valid before an error quotes
// it.
func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// fieldWant says what each field of an entry takes, for type errors.
var fieldWant = map[string]string{
	"name":    "a string",
	"url":     "a string such as \"https://mcp.example.com/mcp\"",
	"headers": "an object of strings such as {\"Authorization\": \"Bearer ${TOKEN}\"}",
	"command": "a list of strings such as [\"npx\", \"-y\", \"@modelcontextprotocol/server-everything\"]",
	"env":     "an object of strings such as {\"API_KEY\": \"${API_KEY}\"}",
	"tools":   "a list of tool names such as [\"echo\"]",
}

func parseEntry(raw json.RawMessage, lookup func(string) (string, bool)) (Server, error) {
	var s Server
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Server{}, decodeError(err)
	}
	if err := checkName(s.Name); err != nil {
		return Server{}, err
	}
	x := expander{lookup: lookup}
	var err error
	switch {
	case s.URL != "" && len(s.Command) > 0:
		return Server{}, errors.New("set url or command, not both")
	case s.URL != "":
		err = x.httpServer(&s)
	case len(s.Command) > 0:
		err = x.stdioServer(&s)
	default:
		return Server{}, errors.New("want a url (Streamable HTTP) or a command (stdio)")
	}
	if err != nil {
		return Server{}, err
	}
	if err := checkTools(s.Tools); err != nil {
		return Server{}, err
	}
	s.Secrets = x.secrets
	s.Secrets = s.secrets()
	return s, nil
}

// decodeError words a JSON error of an entry in the entry's terms.
func decodeError(err error) error {
	if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field, _, _ := strings.Cut(ute.Field, ".")
		if want, known := fieldWant[field]; known {
			return fmt.Errorf("%q must be %s", field, want)
		}
		return errors.New("want an object with name and url or command")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s; want name, url, headers, command, env, tools", clipName(name))
	}
	return errors.New(oneLine(msg))
}

// namePattern is a server name; see Server.Name.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$`)

// checkName checks a server's name: it must prefix tool names, and the
// part of a tool name before its first __ must tell the server.
func checkName(name string) error {
	if name == "" {
		return errors.New("want a name")
	}
	if !namePattern.MatchString(name) || strings.Contains(name, "__") || strings.HasSuffix(name, "_") {
		return fmt.Errorf("name %q cannot prefix tool names: want 1 to 32 characters of a-z A-Z 0-9 _ -, starting with a letter or a digit, without __ and not ending with _", clipName(name))
	}
	return nil
}

func checkTools(tools []string) error {
	if tools == nil {
		return nil
	}
	if len(tools) == 0 {
		return errors.New("tools is empty: list the tools to offer, or leave tools out to offer them all")
	}
	if slices.Contains(tools, "") {
		return errors.New("tools lists an empty name")
	}
	return nil
}

// expander replaces ${NAME} references and collects the secrets of one
// entry.
type expander struct {
	lookup  func(string) (string, bool)
	secrets []string
}

func (x *expander) httpServer(s *Server) error {
	if s.Env != nil {
		return errors.New("env is for command servers; send values to a url server in headers")
	}
	raw := s.URL
	u, err := x.expand(raw, "url")
	if err != nil {
		return err
	}
	if !validURL(u) {
		return fmt.Errorf("url %q: want an http:// or https:// URL such as https://mcp.example.com/mcp", redact.URL(raw))
	}
	s.URL = u
	for name, v := range s.Headers {
		if !validHeaderName(name) {
			return fmt.Errorf("header name %q is not valid", clipName(name))
		}
		v, err := x.expand(v, "headers."+name)
		if err != nil {
			return err
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("the value of header %s has a line break or a NUL", name)
		}
		s.Headers[name] = v
	}
	return nil
}

func (x *expander) stdioServer(s *Server) error {
	if s.Headers != nil {
		return errors.New("headers are for url servers; give a command server its values in env")
	}
	if s.Command[0] == "" {
		return errors.New("command must start with the program to run")
	}
	for name, v := range s.Env {
		if !envName.MatchString(name) {
			return fmt.Errorf("env name %q is not valid: want letters, digits and _, not starting with a digit", clipName(name))
		}
		v, err := x.expand(v, "env."+name)
		if err != nil {
			return err
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("the value of env %s has a NUL", name)
		}
		s.Env[name] = v
	}
	return nil
}

// envName is an environment variable's name, in env and in ${NAME}.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces each ${NAME} in v with the variable's value, which must
// be set and not empty, and $$ with $; any other $ stays as it is. The
// values are secrets. where names the value for an error.
func (x *expander) expand(v, where string) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(v, '$')
		if i < 0 {
			b.WriteString(v)
			return b.String(), nil
		}
		b.WriteString(v[:i])
		v = v[i:]
		switch {
		case strings.HasPrefix(v, "$$"):
			b.WriteByte('$')
			v = v[2:]
		case strings.HasPrefix(v, "${"):
			end := strings.IndexByte(v, '}')
			if end < 0 {
				return "", fmt.Errorf("%s: ${ without its }; write $$ for a literal $", where)
			}
			name := v[2:end]
			if !envName.MatchString(name) {
				return "", fmt.Errorf("%s: ${%s} is not a variable name; write $$ for a literal $", where, clipName(name))
			}
			val, ok := x.lookup(name)
			if val = strings.TrimSpace(val); !ok || val == "" {
				return "", fmt.Errorf("%s names ${%s}, which is not set", where, name)
			}
			x.secrets = append(x.secrets, val)
			b.WriteString(val)
			v = v[end+1:]
		default:
			b.WriteByte('$')
			v = v[1:]
		}
	}
}

// validURL reports whether u is an http:// or https:// URL with a host.
func validURL(u string) bool {
	parsed, err := url.Parse(u)
	return err == nil && (parsed.Scheme == "http" || parsed.Scheme == "https") && parsed.Host != ""
}

// credentialHeader reports whether a header's value is a credential.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "cookie" {
		return true
	}
	for _, w := range []string{"auth", "key", "token", "secret", "password"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// validHeaderName reports whether name is an HTTP header name (an RFC 9110
// token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// EscapeValue writes v so that ParseServers reads it back as it is: every
// $ doubled. For a program that builds the JSON of servers whose values
// are already final.
func EscapeValue(v string) string { return strings.ReplaceAll(v, "$", "$$") }

func compact(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// oneLine joins the lines of a message, for one-line errors.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
