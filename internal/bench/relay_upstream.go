package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// relayUpstream is a fast OpenAI-compatible Chat Completions server for the
// relay modes: every request is answered with a stream of Deltas content
// chunks, each flushed on its own as a model server sends them, as fast as
// the connection takes them, then a finish chunk, usage and [DONE]. The
// chunks are rendered once, so the upstream costs little CPU of its own.
type relayUpstream struct {
	srv    *http.Server
	ln     net.Listener
	chunks [][]byte
	tail   []byte
}

// relayDelta is the text of every delta: one short word.
const relayDelta = "tok "

func startRelayUpstream(deltas int) (*relayUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &relayUpstream{ln: ln}
	for i := range deltas {
		u.chunks = append(u.chunks, []byte(fmt.Sprintf(
			`data: {"id":"r","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`+"\n\n",
			relayDeltaN(i))))
	}
	u.tail = []byte(`data: {"id":"r","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"id":"r","object":"chat.completion.chunk","created":1,"model":"bench","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":` + fmt.Sprint(deltas) + `,"total_tokens":` + fmt.Sprint(deltas+1) + `}}` + "\n\n" +
		"data: [DONE]\n\n")
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

// relayDeltaN is the i-th delta; the first is told apart, so that clients
// can time it.
func relayDeltaN(i int) string {
	if i == 0 {
		return "first "
	}
	return relayDelta
}

// baseURL is what OPENAI_BASE_URL points at.
func (u *relayUpstream) baseURL() string { return "http://" + u.ln.Addr().String() + "/v1" }

func (u *relayUpstream) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	for _, c := range u.chunks {
		if _, err := w.Write(c); err != nil {
			return
		}
		f.Flush()
	}
	_, _ = w.Write(u.tail)
}

func (u *relayUpstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := u.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = u.srv.Close()
	}
}
