package agui

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll returns the data of every event in the stream, and the error that
// ended it (nil for io.EOF).
func readAll(r io.Reader, max int) ([]string, error) {
	s := newSSEReader(r, max)
	var events []string
	for {
		data, err := s.Next()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, string(data))
	}
}

func TestSSE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"LF", "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n", []string{`{"a":1}`, `{"b":2}`}},
		{"CRLF", "data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\r\n\r\n", []string{`{"a":1}`, `{"b":2}`}},
		{"mixed line endings", "data: a\r\n\ndata: b\n\r\n", []string{"a", "b"}},
		{"multi-line data joined with LF", "data: {\ndata: \"a\": 1\ndata:}\n\n", []string{"{\n\"a\": 1\n}"}},
		{"only one space removed", "data:  two\n\ndata:none\n\n", []string{" two", "none"}},
		{"comments ignored", ": keep-alive\n\n:ping\ndata: x\n: between\n\n", []string{"x"}},
		{"event id retry ignored", "event: message\nid: 7\nretry: 100\ndata: x\n\n", []string{"x"}},
		{"unknown fields ignored", "foo: bar\nbaz\ndata: x\n\n", []string{"x"}},
		{"field without colon is empty data", "data\n\n", []string{""}},
		{"blank lines alone dispatch nothing", "\n\n\r\n\n", nil},
		{"unterminated event dropped at EOF", "data: a\n\ndata: b\n", []string{"a"}},
		{"unterminated line dropped at EOF", "data: a\n\ndata: b", []string{"a"}},
		{"colon inside value kept", "data: {\"u\":\"http://x\"}\n\n", []string{`{"u":"http://x"}`}},
		{"empty stream", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := readAll(r, 1024)
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("events %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestSSEFrameLimit(t *testing.T) {
	t.Parallel()
	const max = 100
	tests := []struct {
		name   string
		in     string
		want   []string
		tooBig bool
	}{
		{name: "data of exactly max passes", in: "data: " + strings.Repeat("x", max) + "\r\n\r\n", want: []string{strings.Repeat("x", max)}},
		{name: "one line over max", in: "data: a\n\ndata: " + strings.Repeat("x", max+1) + "\n\n", want: []string{"a"}, tooBig: true},
		{name: "lines adding up over max", in: strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 4) + "\n", tooBig: true},
		{name: "a comment line over max", in: ":" + strings.Repeat("x", 2*max) + "\ndata: a\n\n", tooBig: true},
		{name: "an endless line", in: strings.Repeat("x", 10*max), tooBig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(strings.NewReader(tt.in), max)
			if tt.tooBig != errors.Is(err, errFrameTooLarge) {
				t.Fatalf("error %v, want too large %v", err, tt.tooBig)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSSELongLines reads lines longer than the bufio buffer, which come in
// several pieces, under a limit that allows them.
func TestSSELongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 200<<10)
	got, err := readAll(strings.NewReader("data: "+long+"\n:"+long+"\n\n"), 1<<20)
	if err != nil || !slices.Equal(got, []string{long}) {
		t.Fatalf("got %d events, error %v; want one of %d bytes", len(got), err, len(long))
	}
}

// TestSSEReadError passes on an error of the underlying reader.
func TestSSEReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	got, err := readAll(r, 1024)
	if !errors.Is(err, boom) || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("events %q, error %v; want [a] and boom", got, err)
	}
}

// FuzzSSE checks the streaming parser against refSSE, a whole-buffer
// reading of the same rules, with the input cut into pieces of any size.
func FuzzSSE(f *testing.F) {
	f.Add([]byte("data: {\"type\":\"RUN_STARTED\"}\n\n"), uint8(0), uint16(64))
	f.Add([]byte("data: a\r\ndata: b\r\n\r\n: c\r\n\r\n"), uint8(3), uint16(8))
	f.Add([]byte("event: x\nid: 1\nretry: 5\ndata\n\n"), uint8(1), uint16(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, max uint16) {
		limit := int(max%512) + 1
		want, wantTooBig := refSSE(in, limit)
		var r io.Reader = bytes.NewReader(in)
		if chunk > 0 {
			r = &chunkReader{b: in, n: int(chunk)}
		}
		got, err := readAll(r, limit)
		if err != nil && !errors.Is(err, errFrameTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.Is(err, errFrameTooLarge) != wantTooBig {
			t.Fatalf("too large: got %v, want %v", err, wantTooBig)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
		for _, e := range got {
			if len(e) > limit {
				t.Fatalf("event of %d bytes passed a limit of %d", len(e), limit)
			}
		}
	})
}

// refSSE parses a whole stream at once by the sseReader's rules.
func refSSE(in []byte, max int) (events []string, tooBig bool) {
	var data []byte
	has := false
	for len(in) > 0 {
		line, _, found := bytes.Cut(in, []byte("\n"))
		n := len(line)
		if found {
			n++ // the LF
		}
		in = in[n:]
		if n > max+lineOverhead {
			return events, true
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			if has {
				events = append(events, string(data))
				has = false
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if line[0] == ':' || string(name) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if has {
			data = append(data, '\n')
		} else {
			data = data[:0]
		}
		if len(data)+len(value) > max {
			return events, true
		}
		data = append(data, value...)
		has = true
	}
	return events, false
}

// chunkReader returns b in pieces of n bytes at most.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
