package responder

import "testing"

func TestSplitChunks(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"echo: a": 2, "echo: a b c d e f": 3, "echo: ü ü ü": 3} {
		parts := splitChunks(in, 3)
		joined := ""
		for _, p := range parts {
			joined += p
		}
		if joined != in || len(parts) != want {
			t.Errorf("splitChunks(%q) = %q, want %d parts joining to the input", in, parts, want)
		}
	}
}
