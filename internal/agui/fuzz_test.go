package agui

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzEvent decodes what an upstream agent may send as an event: it must
// never panic, and what decodes encodes again to JSON that decodes to the
// same encoding, so that nothing the types read is half kept. The seeds
// are the round-trip fixtures and testdata/fuzz/FuzzEvent.
func FuzzEvent(f *testing.F) {
	for _, line := range eventFixtures(f) {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := decodeEvent(data)
		if err != nil {
			return
		}
		if r, ok := ev.(ToolCallResult); ok {
			contentAgrees(t, r.Content)
		}
		once := encode(t, ev)
		again, err := decodeEvent(once)
		if err != nil {
			t.Fatalf("%s decoded, but its encoding %s does not: %v", data, once, err)
		}
		if twice := encode(t, again); !bytes.Equal(once, twice) {
			t.Fatalf("encodings differ:\n%s\n%s", once, twice)
		}
	})
}

// FuzzRunAgentInput does the same for what a client may POST to the door.
// Seeds: the fixture and testdata/fuzz/FuzzRunAgentInput.
func FuzzRunAgentInput(f *testing.F) {
	f.Add(inputFixture(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in RunAgentInput
		if json.Unmarshal(data, &in) != nil {
			return
		}
		for _, m := range in.Messages {
			contentAgrees(t, m.Content)
		}
		once := encode(t, in)
		var again RunAgentInput
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("%s decoded, but its encoding %s does not: %v", data, once, err)
		}
		if twice := encode(t, again); !bytes.Equal(once, twice) {
			t.Fatalf("encodings differ:\n%s\n%s", once, twice)
		}
	})
}

// contentAgrees checks that Parts and Text agree on c: both fail, or Text
// is the text parts in order.
func contentAgrees(t *testing.T, c Content) {
	t.Helper()
	parts, perr := c.Parts()
	text, terr := c.Text()
	if (perr == nil) != (terr == nil) {
		t.Fatalf("content %s: Parts %v, Text %v", c, perr, terr)
	}
	var want string
	for _, p := range parts {
		if p.Type == PartText {
			want += p.Text
		}
	}
	if text != want {
		t.Fatalf("content %s: Text %q, its text parts %q", c, text, want)
	}
}
