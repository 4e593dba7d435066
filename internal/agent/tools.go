package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/tool"
	"github.com/google/jsonschema-go/jsonschema"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// This file is the tools of a run: which tools a step offers the model
// (the server tools of Config.Tools, the client tools of the message and
// of Config.ClientTools), who runs a call of each, and the checks a
// client's tools pass before they are kept with its message.

// The bounds of the client tools one message lends: enough for any
// frontend's actions, small enough that a message with its tools stays a
// small event of the log.
const (
	MaxClientTools     = 128
	MaxClientToolBytes = 256 << 10
)

// ValidateTools checks client tools: at most MaxClientTools of them and
// MaxClientToolBytes in all, each a valid name (tool.ValidateDef) and a
// JSON Schema object of its arguments, names distinct, and none of them a
// server tool's. The error names the tool.
func (s *Service) ValidateTools(ctx context.Context, defs []tool.Def) error {
	if len(defs) > MaxClientTools {
		return invalidf("%d tools were sent; the limit is %d", len(defs), MaxClientTools)
	}
	size := 0
	seen := make(map[string]bool, len(defs))
	var server map[string]bool
	for _, d := range defs {
		size += len(d.Name) + len(d.Description) + len(d.Parameters)
		if err := ValidateDef(d); err != nil {
			return invalidf("%v", err)
		}
		if seen[d.Name] {
			return invalidf("tool %q is sent twice", d.Name)
		}
		seen[d.Name] = true
		if server == nil {
			server = s.serverNames(ctx)
		}
		if server[d.Name] || s.ownerOf(d.Name) != nil {
			return invalidf("tool %q is a server tool's name: the gateway runs that tool; give the client's another name", d.Name)
		}
	}
	if size > MaxClientToolBytes {
		return invalidf("the tools take %d bytes; the limit is %d", size, MaxClientToolBytes)
	}
	return nil
}

// ValidateDef checks one tool: tool.ValidateDef, and its parameters, if
// any, a JSON Schema that compiles, of an object (the model APIs take
// arguments as an object). The error names the tool.
func ValidateDef(d tool.Def) error {
	if err := tool.ValidateDef(d); err != nil {
		return err
	}
	if len(d.Parameters) == 0 {
		return nil
	}
	var schema jsonschema.Schema
	if err := json.Unmarshal(d.Parameters, &schema); err != nil {
		return fmt.Errorf("tool %q: parameters are not a JSON Schema: %v", d.Name, err)
	}
	if _, err := schema.Resolve(nil); err != nil {
		return fmt.Errorf("tool %q: parameters are not a valid JSON Schema: %v", d.Name, err)
	}
	if schema.Type != "" && schema.Type != "object" || len(schema.Types) > 0 && !slices.Contains(schema.Types, "object") {
		return fmt.Errorf(`tool %q: parameters must describe an object ("type": "object"), as the model APIs take arguments`, d.Name)
	}
	return nil
}

// serverNames are the names of the server tools offered now.
func (s *Service) serverNames(ctx context.Context) map[string]bool {
	names := map[string]bool{}
	for _, src := range s.cfg.Tools {
		for _, d := range src.Tools(ctx) {
			names[d.Name] = true
		}
	}
	return names
}

// ownerOf is the first source that owns name (tool.Owner), offered now
// or not, or nil.
func (s *Service) ownerOf(name string) tool.Source {
	for _, src := range s.cfg.Tools {
		if o, ok := src.(tool.Owner); ok && o.Owns(name) {
			return src
		}
	}
	return nil
}

// toolbox is what one step offers the model and who runs each tool.
type toolbox struct {
	defs   []tool.Def
	server map[string]tool.Source // server tools by name: the first source's
	client map[string]bool
}

// toolbox lists the tools of a step of the run whose user message lent
// lent: the server tools (listed again at every step, since an MCP
// server's list may change), then the client tools, the message's
// replacing Config.ClientTools' of the same name. A client tool with a
// server tool's name is left out: the server's is offered. (Validation
// keeps such names out of new messages; a message kept in the log from
// before a server was configured may still lend one.)
func (s *Service) toolbox(ctx context.Context, lent []tool.Def) toolbox {
	var b toolbox
	if len(s.cfg.Tools) == 0 && len(lent) == 0 && len(s.cfg.ClientTools) == 0 {
		return b // most messages of most gateways: no tool at all
	}
	b.server, b.client = map[string]tool.Source{}, map[string]bool{}
	for _, src := range s.cfg.Tools {
		for _, d := range src.Tools(ctx) {
			if _, dup := b.server[d.Name]; dup || !tool.ValidName(d.Name) {
				continue
			}
			b.server[d.Name] = src
			b.defs = append(b.defs, d)
		}
	}
	for _, list := range [][]tool.Def{lent, s.cfg.ClientTools} {
		for _, d := range list {
			if _, isServer := b.server[d.Name]; isServer || b.client[d.Name] {
				continue
			}
			b.client[d.Name] = true
			b.defs = append(b.defs, d)
		}
	}
	return b
}

// names lists the tools offered, for an error the model reads: at most
// the first 20.
func (b toolbox) names() string {
	if len(b.defs) == 0 {
		return "no tool is offered"
	}
	names := make([]string, 0, min(len(b.defs), 20))
	for _, d := range b.defs[:min(len(b.defs), 20)] {
		names = append(names, d.Name)
	}
	more := ""
	if len(b.defs) > 20 {
		more = fmt.Sprintf(" and %d more", len(b.defs)-20)
	}
	return "the tools are " + strings.Join(names, ", ") + more
}

// needsApproval reports whether a server tool's calls wait for a person
// (TOOL_APPROVAL: the tool's name, or *).
func (s *Service) needsApproval(name string) bool {
	return slices.Contains(s.cfg.ToolApproval, "*") || slices.Contains(s.cfg.ToolApproval, name)
}

// toolProtos are defs as a user message keeps them.
func toolProtos(defs []tool.Def) ([]*agentv1.Tool, error) {
	out := make([]*agentv1.Tool, 0, len(defs))
	for _, d := range defs {
		t := &agentv1.Tool{Name: d.Name, Description: d.Description}
		if len(d.Parameters) > 0 {
			t.Parameters = &structpb.Struct{}
			if err := protojson.Unmarshal(d.Parameters, t.Parameters); err != nil {
				return nil, invalidf("tool %q: parameters must be a JSON object: %v", d.Name, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// ToolDefs are the tools of a request or a message as the domain has them.
// A tool's parameters are its Struct as JSON.
func ToolDefs(tools []*agentv1.Tool) ([]tool.Def, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]tool.Def, 0, len(tools))
	for _, t := range tools {
		d := tool.Def{Name: t.GetName(), Description: t.GetDescription()}
		if p := t.GetParameters(); p != nil {
			b, err := protojson.Marshal(p)
			if err != nil {
				return nil, invalidf("tool %q: parameters: %v", t.GetName(), err)
			}
			d.Parameters = b
		}
		out = append(out, d)
	}
	return out, nil
}
