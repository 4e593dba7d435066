package bridge_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/apptest"
)

// maskedText is a client's text frame (RFC 6455, section 5.2), masked with
// a zero key, as a client must send it.
func maskedText(payload string) []byte {
	b := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	}
	b = append(b, 0, 0, 0, 0) // the mask key: XOR with zero leaves the payload
	return append(b, payload...)
}

// TestReaderWakesForEveryFrame sends frames the way an idle socket's reader
// must not miss them: one split across two writes with a pause between
// (its header alone first), many in one write (more than the read buffer
// holds), and one right after an answer. Every call is answered
// (GetAgent's not_found is an answer as good as any).
func TestReaderWakesForEveryFrame(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/park?subscribe=false")
	raw := c.ws.NetConn()

	frame := maskedText(`{"id":"split","method":"GetAgent"}`)
	for _, part := range [][]byte{frame[:2], frame[2:7], frame[7:]} {
		if _, err := raw.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the reader parks between the parts
	}
	c.awaitID("split") // its answer (not_found: the agent is new)

	var burst []byte
	const n = 40
	for i := range n {
		burst = append(burst, maskedText(fmt.Sprintf(`{"id":"b%d","method":"GetAgent","request":{"agentId":"park"}}`, i))...)
	}
	if len(burst) < 2<<10 {
		t.Fatalf("the burst is %d bytes, want more than the read buffer", len(burst))
	}
	if _, err := raw.Write(burst); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		f := c.read()
		if !strings.HasPrefix(f.ID, "b") {
			t.Fatalf("burst: %s", f.raw)
		}
		seen[f.ID] = true
	}
	for i := range 20 {
		id := fmt.Sprintf("r%d", i)
		c.call(id, "GetAgent", "")
		c.awaitID(id)
	}
}
