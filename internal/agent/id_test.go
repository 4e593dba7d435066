package agent

import (
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"a": true, "agent-1": true, "A.b_c:d-e": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "a b": false, "a/b": false, "ü": false, "a\x00": false, "a%20": false,
		".": false, "..": false, "...": true, ".a": true, "a..": true,
	} {
		if err := ValidateID(id); (err == nil) != ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// FuzzValidateID checks that accepted ids are exactly the documented set,
// and that a refusal is an invalid_argument with a message a person can read.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"agent-1", "", "a b", "ü", strings.Repeat("z", 129), "a:b.c_d", ".", ".."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		want := len(id) >= 1 && len(id) <= 128 && strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == "" &&
			id != "." && id != ".."
		if (err == nil) != want {
			t.Fatalf("ValidateID(%q) = %v, want ok=%v", id, err, want)
		}
		if err != nil && (KindOf(err) != KindInvalidArgument || !strings.Contains(err.Error(), "agent_id")) {
			t.Fatalf("ValidateID(%q) error %v: want invalid_argument naming agent_id", id, err)
		}
	})
}
