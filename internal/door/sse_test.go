package door

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The write timeout bounds each write, not the silence between them: a
// reply that pauses for longer than it (a model thinking) is not cut off.
func TestSSEStaysOpenThroughSilenceLongerThanTheWriteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 20 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse, err := StartSSE(w, timeout)
		if err != nil {
			t.Error(err)
			return
		}
		defer sse.End()
		for i, v := range []any{map[string]int{"n": 1}, map[string]int{"n": 2}} {
			if i > 0 {
				// The condition under test: silence longer than the timeout.
				time.Sleep(5 * timeout)
			}
			if err := sse.Data(v); err != nil {
				t.Error(err)
			}
			if err := sse.Flush(); err != nil {
				t.Errorf("flush %d: %v", i, err)
			}
		}
		sse.Comment("keep-alive")
		sse.Raw("[DONE]")
		if err := sse.Flush(); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(bufio.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n: keep-alive\n\ndata: [DONE]\n\n"
	if string(b) != want {
		t.Fatalf("body %q, want %q", b, want)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content-type %q", ct)
	}
}
