package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// Calls reach the service through its mounted Connect handler, in process:
// each becomes an http.Request in the Connect protocol, so the handler runs
// exactly as for a Connect client, middleware and interceptors included.
// Unary calls post their request and read one message back; server streams
// post one enveloped message and the response writer below cuts the
// streamed envelopes apart as the handler writes them.
//
// The messages cross in one of two ways. With the bridge's codec (see
// Codec) the request is the handle of the message the bridge decoded from
// the frame, and the response comes as the JSON the frame carries: no
// encoding pass but the two the frames need. Without it, for a handler
// built without the codec, they cross as binary protobuf, which every
// Connect handler accepts.

// requestBody is the body of a call: a pooled buffer, and the codec's
// handle of the decoded request when there is one (0 otherwise).
type requestBody struct {
	buf    *[]byte
	handle uint64
}

// encode makes the body of a call of m with msg.
func (r *rpc) encode(m *method, msg proto.Message) (requestBody, error) {
	body := requestBody{buf: getBuf()}
	b := *body.buf
	if m.stream {
		b = append(b, 0, 0, 0, 0, 0) // the envelope; see envelope
	}
	var err error
	if r.codec != nil {
		b, body.handle = r.codec.put(b, msg)
	} else {
		b, err = proto.MarshalOptions{}.MarshalAppend(b, msg)
	}
	if m.stream {
		binary.BigEndian.PutUint32(b[1:], uint32(len(b)-envelopeHeader))
	}
	*body.buf = b
	if err != nil {
		r.free(body)
		return requestBody{}, err
	}
	return body, nil
}

// free gives back what a call's body holds, once the call is done.
func (r *rpc) free(body requestBody) {
	putBuf(body.buf)
	if body.handle != 0 {
		r.codec.drop(body.handle) // the handler took it, unless it refused early
	}
}

// contentType is the content type of a call of m.
func (r *rpc) contentType(m *method) string {
	codec := "proto"
	if r.codec != nil {
		codec = codecName
	}
	if m.stream {
		return "application/connect+" + codec
	}
	return "application/" + codec
}

// response makes the response frame of a call from a message the handler
// sent: JSON with the codec, binary protobuf otherwise, which is decoded
// into out and encoded as JSON.
func (r *rpc) response(c *call, data []byte, out proto.Message) (*[]byte, *rpcError) {
	b := getBuf()
	*b = append(append(*b, c.prefix...), `"response":`...)
	if r.codec != nil {
		*b = append(append(*b, data...), '}')
		return b, nil
	}
	proto.Reset(out)
	if proto.Unmarshal(data, out) != nil {
		putBuf(b)
		return nil, &rpcError{Code: connect.CodeInternal.String(), Message: "the service sent a response the bridge cannot read"}
	}
	var err error
	if *b, err = jsonOpts.MarshalAppend(*b, out); err != nil {
		putBuf(b)
		return nil, &rpcError{Code: connect.CodeInternal.String(), Message: "the response cannot be encoded as JSON"}
	}
	*b = append(*b, '}')
	return b, nil
}

func (s *session) runUnary(c *call, body requestBody) *[]byte {
	w := &unaryWriter{body: getBuf()}
	defer putBuf(w.body)
	s.rpc.handler.ServeHTTP(w, s.peer.request(c.ctx, c.m.path, s.rpc.contentType(c.m), *body.buf))
	if e := w.result(); e != nil {
		return errorFrame(c, s.outcome(c, e))
	}
	var out proto.Message
	if s.rpc.codec == nil {
		out = c.m.out.New().Interface()
	}
	b, e := s.rpc.response(c, *w.body, out)
	if e != nil {
		return errorFrame(c, e)
	}
	return b
}

func (s *session) runStream(c *call, body requestBody) *[]byte {
	var out proto.Message
	if s.rpc.codec == nil {
		out = c.m.out.New().Interface()
	}
	w := &streamWriter{buf: getBuf()}
	defer putBuf(w.buf)
	w.message = func(data []byte) bool {
		b, e := s.rpc.response(c, data, out)
		return e == nil && s.sink.sendStream(c.ctx, b)
	}
	s.rpc.handler.ServeHTTP(w, s.peer.request(c.ctx, c.m.path, s.rpc.contentType(c.m), *body.buf))
	if e := s.outcome(c, w.result()); e != nil {
		return errorFrame(c, e)
	}
	b := getBuf()
	*b = appendEnd(*b, c.prefix)
	return b
}

// forwardHeaders are the upgrade request's headers that every call of the
// socket carries besides its credentials: the request ids that tie the
// calls' logs to the socket's, and the client's address behind proxies.
var forwardHeaders = [...]string{"X-Request-Id", "X-Railway-Request-Id", "X-Forwarded-For", "X-Real-Ip"}

// peer is what the calls of one socket carry from its upgrade request.
type peer struct {
	remoteAddr string
	host       string
	// header holds canonical names and values, alternating.
	header []string
}

func newPeer(r *http.Request, authorization string) peer {
	p := peer{remoteAddr: r.RemoteAddr, host: r.Host}
	if authorization != "" {
		p.header = append(p.header, "Authorization", authorization)
	}
	for _, k := range forwardHeaders {
		if v := r.Header.Get(k); v != "" {
			p.header = append(p.header, k, v)
		}
	}
	return p
}

// request builds the in-process request of a call.
func (p *peer) request(ctx context.Context, path, contentType string, body []byte) *http.Request {
	h := make(http.Header, 2+len(p.header)/2)
	h["Content-Type"] = []string{contentType}
	h["Connect-Protocol-Version"] = []string{"1"}
	for i := 0; i+1 < len(p.header); i += 2 {
		h[p.header[i]] = []string{p.header[i+1]}
	}
	r := &http.Request{
		Method:        http.MethodPost,
		URL:           &url.URL{Path: path},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          p.host,
		RemoteAddr:    p.remoteAddr,
		RequestURI:    path,
	}
	return r.WithContext(ctx)
}

// rpcError is how a call failed, with its Connect code name.
type rpcError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// responseHead is the header and status of a response the handler writes
// in process: the first status written counts, as on the wire.
type responseHead struct {
	header http.Header
	status int
}

func (h *responseHead) Header() http.Header {
	if h.header == nil {
		h.header = make(http.Header)
	}
	return h.header
}

func (h *responseHead) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

// unaryWriter collects a unary response.
type unaryWriter struct {
	responseHead
	body *[]byte
}

func (w *unaryWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	*w.body = append(*w.body, p...)
	return len(p), nil
}

// result returns the call's error, if it failed; otherwise the body is the
// response message.
func (w *unaryWriter) result() *rpcError {
	if w.status == 0 || w.status == http.StatusOK {
		return nil
	}
	return wireError(w.status, *w.body)
}

// wireError reads a Connect error body; a body that is not one (a protocol
// failure) gets the code Connect clients infer from the HTTP status.
func wireError(status int, body []byte) *rpcError {
	var e rpcError
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		return &e
	}
	return &rpcError{Code: httpCode(status).String(), Message: http.StatusText(status)}
}

// httpCode maps an HTTP status without a Connect error body to a code, as
// the Connect protocol specifies for clients.
func httpCode(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInternal
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeUnimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return connect.CodeUnavailable
	}
	return connect.CodeUnknown
}

// Flags of the Connect streaming envelope.
const (
	flagCompressed = 0b01
	flagEndStream  = 0b10
	envelopeHeader = 5
)

// errStreamClosed stops a stream whose frames can no longer be sent: the
// socket closed or its queue overflowed.
var errStreamClosed = errors.New("bridge: socket closed")

// streamWriter receives a server stream as the handler writes it, and turns
// each message into a response frame as soon as its envelope is complete.
type streamWriter struct {
	responseHead
	buf *[]byte // bytes of an envelope not yet complete
	// message decodes one streamed message into out and sends its frame; it
	// returns false when the socket can take no more.
	message func(data []byte) bool
	end     *rpcError // the end-of-stream error, once seen
	ended   bool
	failed  bool // the stream was cut: a bad envelope, or the socket went away
}

// Flush implements http.Flusher, which Connect requires of streams; every
// complete message is passed on at once anyway.
func (w *streamWriter) Flush() {}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.failed {
		return 0, errStreamClosed
	}
	if w.status != http.StatusOK {
		*w.buf = append(*w.buf, p...) // an error body, read by result
		return len(p), nil
	}
	*w.buf = append(*w.buf, p...)
	b := *w.buf
	for len(b) >= envelopeHeader {
		flags := b[0]
		n := binary.BigEndian.Uint32(b[1:envelopeHeader])
		if uint64(len(b)-envelopeHeader) < uint64(n) {
			break
		}
		data := b[envelopeHeader : envelopeHeader+int(n)]
		b = b[envelopeHeader+int(n):]
		switch {
		case w.ended || flags&flagCompressed != 0:
			// Nothing follows the end, and compression was never offered.
			w.failed = true
		case flags&flagEndStream != 0:
			w.ended = true
			var end struct {
				Error *rpcError `json:"error"`
			}
			if json.Unmarshal(data, &end) != nil {
				w.failed = true
			}
			w.end = end.Error
		default:
			w.failed = !w.message(data)
		}
		if w.failed {
			return 0, errStreamClosed
		}
	}
	// Keep the incomplete rest at the start of the buffer.
	*w.buf = append((*w.buf)[:0], b...)
	return len(p), nil
}

// result is the stream's outcome once the handler returned: nil when it
// ended cleanly.
func (w *streamWriter) result() *rpcError {
	switch {
	case w.status != 0 && w.status != http.StatusOK:
		return wireError(w.status, *w.buf)
	case w.failed || !w.ended:
		return &rpcError{Code: connect.CodeInternal.String(), Message: "the stream ended without its end message"}
	}
	return w.end
}
