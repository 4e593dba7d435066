package bridge

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// recordConn is a net.Conn that records each Write call.
type recordConn struct {
	net.Conn
	writes    [][]byte
	deadlines []time.Time // the deadline in force at each write
	deadline  time.Time
	sets      int
	err       error
}

func (r *recordConn) SetWriteDeadline(t time.Time) error {
	r.deadline = t
	r.sets++
	return nil
}

func (r *recordConn) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	r.deadlines = append(r.deadlines, r.deadline)
	return len(p), nil
}

func TestBatchConnHoldsWritesUntilEnd(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc}

	if _, err := c.Write([]byte("handshake")); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 1 {
		t.Fatalf("a write outside a batch must go straight through; got %d writes", len(rc.writes))
	}

	c.begin()
	for _, s := range []string{"one", "two", "three"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if len(rc.writes) != 1 {
		t.Fatalf("writes inside a batch reached the connection before end: %q", rc.writes)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 2 || string(rc.writes[1]) != "onetwothree" {
		t.Fatalf("the batch should leave in one write; got %q", rc.writes)
	}
	if err := c.end(); err != nil || len(rc.writes) != 2 {
		t.Fatalf("a second end wrote again or failed: %v, %q", err, rc.writes)
	}
}

func TestBatchConnFlushesPastMaxBatch(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc}
	half := strings.Repeat("a", maxBatch/2+1)
	huge := strings.Repeat("b", maxBatch+1)

	c.begin()
	for _, s := range []string{half, half, huge, "tail"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	want := []string{half, half, huge, "tail"}
	if len(rc.writes) != len(want) {
		t.Fatalf("got %d writes, want %d", len(rc.writes), len(want))
	}
	for i, w := range want {
		if string(rc.writes[i]) != w {
			t.Fatalf("write %d: got %d bytes, want %d", i, len(rc.writes[i]), len(w))
		}
	}
}

func TestBatchConnReportsTheWriteError(t *testing.T) {
	boom := errors.New("connection reset")
	rc := &recordConn{err: boom}
	c := &batchConn{Conn: rc}
	c.begin()
	if _, err := c.Write([]byte("frame")); err != nil {
		t.Fatalf("a held write cannot fail yet: %v", err)
	}
	if err := c.end(); !errors.Is(err, boom) {
		t.Fatalf("end() = %v, want the connection's error", err)
	}
	if c.buf != nil {
		t.Fatal("end must give the buffer back even when the write fails")
	}
}

func TestBatchConnWritesUnderTheLastDeadline(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc}
	t0 := time.Now()
	c.begin()
	for i := range 3 {
		if err := c.SetWriteDeadline(t0.Add(time.Duration(i+1) * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("frame")); err != nil {
			t.Fatal(err)
		}
	}
	if rc.sets != 0 {
		t.Fatalf("the deadline was set on the connection %d times inside the batch", rc.sets)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if rc.sets != 1 || len(rc.deadlines) != 1 || !rc.deadlines[0].Equal(t0.Add(3*time.Second)) {
		t.Fatalf("want one write under the last deadline; got %d sets, deadlines %v", rc.sets, rc.deadlines)
	}
	// Outside a batch the deadline goes straight to the connection.
	if err := c.SetWriteDeadline(t0); err != nil || rc.sets != 2 || !rc.deadline.Equal(t0) {
		t.Fatalf("SetWriteDeadline outside a batch: err %v, sets %d", err, rc.sets)
	}
}

func TestBatchConnWriteText(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc}
	dl := time.Now().Add(time.Second)

	// Outside a batch: header and payload in one write, under the deadline.
	if err := c.writeText([]byte("hi"), false, dl); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 1 || string(rc.writes[0]) != "\x81\x02hi" || !rc.deadlines[0].Equal(dl) {
		t.Fatalf("writes %q, deadlines %v", rc.writes, rc.deadlines)
	}

	// Inside: held, a framed one as it is, then one write.
	c.begin()
	if err := c.writeText([]byte("ab"), false, dl); err != nil {
		t.Fatal(err)
	}
	if err := c.writeText([]byte("\x81\x01z"), true, dl); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 1 {
		t.Fatalf("a frame left before the batch ended: %q", rc.writes)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 2 || string(rc.writes[1]) != "\x81\x02ab\x81\x01z" {
		t.Fatalf("writes %q", rc.writes)
	}
}

// TestBatchConnKeepsAFreshDeadline: a deadline a little later than the one
// in force is not set again, a much later, an earlier or no deadline is.
func TestBatchConnKeepsAFreshDeadline(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc}
	t0 := time.Now().Add(8 * time.Second)
	steps := []struct {
		name     string
		deadline time.Time
		sets     int // on the connection, after this step
		inForce  time.Time
	}{
		{"first", t0, 1, t0},
		{"a millisecond later: kept", t0.Add(time.Millisecond), 1, t0},
		{"two seconds later: more than an eighth lost", t0.Add(2 * time.Second), 2, t0.Add(2 * time.Second)},
		{"earlier: set", t0, 3, t0},
		{"none: set", time.Time{}, 4, time.Time{}},
		{"after none: set", t0, 5, t0},
	}
	for _, s := range steps {
		if err := c.writeText([]byte("x"), false, s.deadline); err != nil {
			t.Fatal(err)
		}
		if rc.sets != s.sets || !rc.deadline.Equal(s.inForce) {
			t.Fatalf("%s: %d sets, deadline %v in force; want %d, %v", s.name, rc.sets, rc.deadline, s.sets, s.inForce)
		}
	}
}

// A long burst of small frames leaves maxBatchFrames at a time, so that the
// first of them does not wait for the burst to end; a short one, in one
// write.
func TestBatchConnFlushesPastMaxBatchFrames(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc}
	c.begin()
	for range 2*maxBatchFrames + 3 {
		if err := c.writeText([]byte("d"), false, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(rc.writes) != 2 {
		t.Fatalf("%d writes before the end of a burst of %d frames, want 2 of %d frames", len(rc.writes), 2*maxBatchFrames+3, maxBatchFrames)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	frame := string(appendTextHeader(nil, 1)) + "d"
	for i, want := range []int{maxBatchFrames, maxBatchFrames, 3} {
		if got := string(rc.writes[i]); got != strings.Repeat(frame, want) {
			t.Fatalf("write %d: %q, want %d frames", i, got, want)
		}
	}
	c.begin()
	for range maxBatchFrames {
		if err := c.writeText([]byte("d"), false, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.end(); err != nil || len(rc.writes) != 4 {
		t.Fatalf("a burst of %d frames took %d writes (%v), want 1", maxBatchFrames, len(rc.writes)-3, err)
	}
}

// With lines set (?batch=true), the frames of a batch leave as one text
// message, one frame a line, whatever their size; a control frame ends
// the message it comes after; a batch that flushes as it goes (too many
// frames) ends its message too; outside a batch a frame is a message of
// its own.
func TestBatchConnLines(t *testing.T) {
	rc := &recordConn{}
	c := &batchConn{Conn: rc, lines: true}
	long := strings.Repeat("x", 300) // a 4-byte header
	framed := appendTextHeader(nil, len(long))
	framed = append(framed, long...)

	c.begin()
	for _, f := range []struct {
		b      string
		framed bool
	}{{`{"a":1}`, false}, {string(framed), true}, {`{"b":2}`, false}} {
		if err := c.writeText([]byte(f.b), f.framed, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write([]byte("\x89\x00")); err != nil { // a ping
		t.Fatal(err)
	}
	if err := c.writeText([]byte(`{"c":3}`), false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	first := `{"a":1}` + "\n" + long + "\n" + `{"b":2}`
	want := string(appendTextHeader(nil, len(first))) + first + "\x89\x00" + string(appendTextHeader(nil, 7)) + `{"c":3}`
	if len(rc.writes) != 1 || string(rc.writes[0]) != want {
		t.Fatalf("writes %q, want one of %q", rc.writes, want)
	}

	rc.writes = nil
	c.begin()
	for range maxBatchFrames + 2 {
		if err := c.writeText([]byte("d"), false, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	lines := func(n int) string {
		body := strings.TrimSuffix(strings.Repeat("d\n", n), "\n")
		return string(appendTextHeader(nil, len(body))) + body
	}
	if len(rc.writes) != 2 || string(rc.writes[0]) != lines(maxBatchFrames) || string(rc.writes[1]) != lines(2) {
		t.Fatalf("a burst of %d frames: writes %q, want messages of %d and 2 lines", maxBatchFrames+2, rc.writes, maxBatchFrames)
	}

	rc.writes = nil
	if err := c.writeText([]byte("alone"), false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 1 || string(rc.writes[0]) != "\x81\x05alone" {
		t.Fatalf("outside a batch: %q", rc.writes)
	}
}
