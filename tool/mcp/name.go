package mcp

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// separator joins a server's name and a tool's in the name offered to the
// model. Server names never contain it nor end with _, so the part of an
// offered name before its first separator is always the server's name.
const separator = "__"

// maxName is the longest tool name the model APIs accept.
const maxName = 64

// hashLen is the length of the hash that ends a name that had to change.
const hashLen = 8

// toolName is the name offered to the model for the tool the server named
// tool: server__tool when tool is valid and the whole fits in 64
// characters; otherwise tool's valid characters (others become _), cut to
// fit, followed by _ and a hash of the whole original name, so that two
// tools never share a name by losing what told them apart.
func toolName(server, tool string) string {
	clean := sanitize(tool)
	name := server + separator + clean
	if clean == tool && tool != "" && len(name) <= maxName {
		return name
	}
	sum := sha256.Sum256([]byte(tool))
	room := maxName - len(server) - len(separator) - 1 - hashLen
	if len(clean) > room {
		clean = clean[:room]
	}
	return server + separator + clean + "_" + hex.EncodeToString(sum[:])[:hashLen]
}

// sanitize replaces every character outside a-z A-Z 0-9 _ - with _.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// serverOf is the server's name that prefixes an offered tool name.
func serverOf(name string) (string, bool) {
	server, _, ok := strings.Cut(name, separator)
	return server, ok
}
