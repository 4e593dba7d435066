package clip_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/clip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 4, ""},
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd…"},
		// A cut never splits a character: "é" is two bytes, "€" three.
		{"abcé", 4, "abc…"},
		{"a€", 2, "a…"},
		{"a€", 3, "a…"},
		{"a€b", 4, "a€…"},
		{"abc", 0, "…"},
	} {
		if got := clip.String(tc.in, tc.n); got != tc.want {
			t.Errorf("String(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestValueAndMessageBoundAnyInput(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x€", 1<<19)
	if got := clip.Value(huge); len(got) > clip.ValueLen+len(clip.Marker) || !utf8.ValidString(got) {
		t.Fatalf("Value: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	if got := clip.Message(huge); len(got) > clip.MessageLen+len(clip.Marker) || !utf8.ValidString(got) {
		t.Fatalf("Message: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	id := strings.Repeat("a", 128)
	if clip.Value(id) != id {
		t.Fatal("a valid id is cut")
	}
}
