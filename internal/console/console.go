// Package console serves the operator's console: a small page, embedded in
// the binary, that talks to one agent over the WebSocket bridge exactly as
// the legacy browser frontend does. It is the quickest proof, right after a
// deploy, that the gateway answers: open /console, pick an agent, send a
// message and watch the reply stream in. It also shows the tool loop at
// work, step by step, and lets the operator answer it: type the result of
// a client tool's pending call, approve or deny a call that waits for a
// person.
//
// It is an operator's page: its socket says so (console=true), and the
// edge then wants agents:admin on the agent, where a plain socket needs
// agents:read.
//
// The page is plain HTML, CSS and JavaScript with no build step and no
// third-party code, so it adds nothing to the binary's supply chain.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Path is where the console is mounted; its assets live under Path + "/".
const Path = "/console"

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the console page at Path (and Path + "/") and its assets
// under Path + "/". It is safe for concurrent use; the files are read once,
// when it is built.
type Handler struct {
	assets map[string]asset // by URL path
}

// contentTypes are the types of the files the console is made of.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// New returns the console's handler.
func New() *Handler {
	h := &Handler{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := asset{
			body:        body,
			contentType: contentTypes[path.Ext(name)],
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		rel := strings.TrimPrefix(name, "static/")
		h.assets[Path+"/"+rel] = a
		if rel == "index.html" {
			h.assets[Path] = a
			h.assets[Path+"/"] = a
		}
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a build bug.
		panic("console: reading embedded files: " + err.Error())
	}
	return h
}

// Routes returns the ServeMux patterns the console needs, each mapped to h.
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + Path:       h,
		"GET " + Path + "/": h,
	}
}

// ServeHTTP serves one of the console's files, or 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.URL.Path]
	if !ok || strings.HasSuffix(r.URL.Path, "/index.html") {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	// The page talks to its own origin only: its script and style, and the
	// WebSocket bridge (ws: or wss:, which 'self' does not cover everywhere).
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	// Revalidate every time: the files change with each deploy, and a 304
	// costs next to nothing.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}
