package door

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// SSE writes a text/event-stream response: frames "data: <json>\n\n", LF
// only (AG-UI's client splits on "\n\n" and fails on CRLF), and comments
// for heartbeats, which both clients skip. Frames are buffered until Flush,
// so that the events of one turn of the stream go out in one write.
type SSE struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
	enc     *json.Encoder
}

// WriteFailed is a failed write to the client: it is gone, or stopped
// reading.
type WriteFailed struct{ Err error }

func (e *WriteFailed) Error() string { return "writing to the client: " + e.Err.Error() }
func (e *WriteFailed) Unwrap() error { return e.Err }

// StartSSE sends the response headers of an event stream (with any the
// caller set on w before) and returns its writer. Each flush must finish
// within timeout.
func StartSSE(w http.ResponseWriter, timeout time.Duration) (*SSE, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Proxies that buffer responses (nginx) would hold the stream back.
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	s := &SSE{w: w, rc: http.NewResponseController(w), timeout: timeout}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s, s.Flush()
}

// Data buffers one frame holding v as JSON.
func (s *SSE) Data(v any) error {
	s.buf.WriteString("data: ")
	if err := s.enc.Encode(v); err != nil {
		// A wire struct that does not encode is a bug, not the client's.
		return fmt.Errorf("encoding an event: %w", err)
	}
	// Encode ended the JSON with "\n"; one more ends the frame.
	s.buf.WriteByte('\n')
	return nil
}

// Raw buffers one frame of literal data, such as the AI SDK's [DONE].
func (s *SSE) Raw(data string) {
	s.buf.WriteString("data: ")
	s.buf.WriteString(data)
	s.buf.WriteString("\n\n")
}

// Comment buffers a comment line, which clients ignore: a heartbeat.
func (s *SSE) Comment(text string) {
	s.buf.WriteString(": ")
	s.buf.WriteString(text)
	s.buf.WriteString("\n\n")
}

// Flush writes what is buffered and flushes it to the client, within the
// write timeout. The deadline is lifted afterwards: a stream may then be
// silent for as long as its reply is.
func (s *SSE) Flush() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	defer s.End()
	if s.buf.Len() > 0 {
		_, err := s.w.Write(s.buf.Bytes())
		s.buf.Reset()
		if err != nil {
			return &WriteFailed{err}
		}
	}
	if err := s.rc.Flush(); err != nil {
		return &WriteFailed{err}
	}
	return nil
}

// Buffered is how many bytes wait for Flush.
func (s *SSE) Buffered() int { return s.buf.Len() }

// End lifts the write deadline, so that it cannot cut the next response on
// a kept-alive connection.
func (s *SSE) End() { _ = s.rc.SetWriteDeadline(time.Time{}) }

// DataAll buffers one frame for each of vs.
func (s *SSE) DataAll(vs []any) error {
	for _, v := range vs {
		if err := s.Data(v); err != nil {
			return err
		}
	}
	return nil
}
