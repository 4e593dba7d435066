package agentid

import (
	"math/rand/v2"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// allChars are the agent id characters, in byte order.
const allChars = "-.0123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

func TestChars(t *testing.T) {
	t.Parallel()
	var got strings.Builder
	for c := 0; c < 256; c++ {
		if Char(byte(c)) {
			got.WriteByte(byte(c))
		}
	}
	if got.String() != allChars {
		t.Fatalf("the agent id characters are %q, want %q", got.String(), allChars)
	}
	if allChars[0] != minChar || allChars[len(allChars)-1] != maxChar {
		t.Fatalf("minChar %q and maxChar %q are not the least and greatest of %q", minChar, maxChar, allChars)
	}
	if !OfChars("") || !OfChars("a:b.c_d-E9") || OfChars("a b") || OfChars("a*") {
		t.Fatal("OfChars")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for id, says := range map[string]string{
		"a": "", "A.b_c:d-e": "", strings.Repeat("x", MaxLen): "", "...": "",
		"":                            "required",
		strings.Repeat("x", MaxLen+1): "129 characters",
		"a b":                         "at offset 1",
		".":                           "not allowed",
		"..":                          "not allowed",
	} {
		err := Check(id)
		if (err == nil) != (says == "") || (err != nil && !strings.Contains(err.Error(), says)) {
			t.Errorf("Check(%.20q) = %v, want %q", id, err, says)
		}
	}
}

// randomID is a random string of agent id characters, short or long.
func randomID(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	if r.IntN(8) == 0 {
		n = MaxLen - r.IntN(3)
	}
	b := make([]byte, n)
	for i := range b {
		// Mostly the ends of the set, where Before is most likely wrong.
		switch r.IntN(4) {
		case 0:
			b[i] = minChar
		case 1:
			b[i] = maxChar
		default:
			b[i] = allChars[r.IntN(len(allChars))]
		}
	}
	return string(b)
}

// TestBefore: an agent id sorts before s exactly when it sorts before
// Before(s) or is it, and Before(s) is a string of at most MaxLen agent id
// characters.
func TestBefore(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := randomID(r)
		b := Before(s)
		if len(b) > MaxLen || !OfChars(b) || b >= s {
			t.Fatalf("Before(%q) = %q: not a shorter position before it", s, b)
		}
		for range 50 {
			id := randomID(r)
			if strings.HasPrefix(s, id) || r.IntN(2) == 0 {
				id = s[:r.IntN(len(s))+1] + id // share a prefix
				id = id[:min(len(id), MaxLen)]
			}
			if (id < s) != (id <= b) {
				t.Fatalf("Before(%q) = %q: the id %q sorts before s: %v, before or at the position: %v", s, b, id, id < s, id <= b)
			}
		}
	}
	for s, want := range map[string]string{
		"a-":                          "a",
		"b":                           "a" + strings.Repeat("z", MaxLen-1),
		"alice:":                      "alice9" + strings.Repeat("z", MaxLen-6),
		strings.Repeat("a", MaxLen+3): strings.Repeat("a", MaxLen),
	} {
		if got := Before(s); got != want {
			t.Errorf("Before(%.20q) = %.20q…, want %.20q…", s, got, want)
		}
	}
}
