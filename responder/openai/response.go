package openai

import (
	"bytes"
	"io"
	"net/http"

	"github.com/openai/openai-go/v3/option"
)

// maxErrorBody bounds how much of an error response is kept.
const maxErrorBody = 64 << 10

// response records the HTTP response of one attempt. The SDK loses the
// status of an error whose body is not OpenAI's shape (a top-level
// {"error":"a string"}, an HTML page from a proxy), and the headers of every
// error; the status says what failed and Retry-After when to try again.
type response struct {
	status int
	header http.Header
	// body is the start of an error response's body.
	body []byte
}

// record is an SDK middleware. It runs in the goroutine that makes the
// request, before the SDK reads the response.
func (rs *response) record(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res == nil {
		return res, err
	}
	rs.status, rs.header = res.StatusCode, res.Header
	if res.StatusCode >= 400 {
		rs.body, _ = io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		_ = res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(rs.body))
	}
	return res, nil
}
