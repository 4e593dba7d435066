package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// key164 is as long as the key of the defect: 164 characters.
var key164 = "sk-proj-" + strings.Repeat("Ab3dEf7hIj0kLm9n", 9) + "QrStUvWxYz12"

func TestString(t *testing.T) {
	t.Parallel()
	r := New("sk-test-QX7vTq3KzL9mWp2RrJ4n", "shortpw1", "tiny", "", "a b/c?d=é&\"x\"-0123")
	tests := []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"key sk-test-QX7vTq3KzL9mWp2RrJ4n.", "key [redacted]."},
		{"twice sk-test-QX7vTq3KzL9mWp2RrJ4nsk-test-QX7vTq3KzL9mWp2RrJ4n", "twice [redacted]"},
		// What a cut leaves of it, at either end, and a piece in the middle.
		{"Incorrect API key provided: sk-test-QX7vTq3K", "Incorrect API key provided: [redacted]"},
		{"QX7vTq3KzL9mWp2RrJ4n was refused", "[redacted] was refused"},
		{"(3KzL9mWp2RrJ)", "([redacted])"},
		// Less than MinPiece bytes of it is not a piece.
		{"sk-test-QX7", "sk-test-QX7"},
		// A short secret, whole; one shorter than MinSecret is ignored.
		{"password shortpw1 and tiny", "password [redacted] and tiny"},
		// Escaped for a URL query or path, or for JSON.
		{"?k=a+b%2Fc%3Fd%3D%C3%A9%26%22x%22-0123", "?k=[redacted]"},
		{"/a%20b%2Fc%3Fd=%C3%A9&%22x%22-0123/", "/[redacted]/"},
		{`{"k":"a b/c?d=é\u0026\"x\"-0123"}`, `{"k":"[redacted]"}`},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRedactThenCut is the defect: an upstream echoes a 164-character key
// after a short preamble, and the message quoting it is cut to 200
// characters. Redacting the whole text first leaves nothing of the key;
// redacting a text that was already cut still takes out what the cut left.
func TestRedactThenCut(t *testing.T) {
	t.Parallel()
	r := New(key164)
	body := "Incorrect API key provided: " + key164 + ". You can find your API key at https://platform.openai.com/account/api-keys."
	for _, got := range []string{
		r.Excerpt(body, 200),
		r.String(string([]rune(body)[:200])), // cut first, as the defect did
		r.String(body[50:]),                  // a cut at the start
	} {
		if strings.Contains(got, key164[:MinPiece]) || strings.Contains(got, key164[len(key164)-MinPiece:]) {
			t.Errorf("%q keeps a piece of the key", got)
		}
		for i := 0; i+MinPiece <= len(key164); i++ {
			if strings.Contains(got, key164[i:i+MinPiece]) {
				t.Fatalf("%q keeps %q of the key", got, key164[i:i+MinPiece])
			}
		}
		if !strings.Contains(got, Marker) {
			t.Errorf("%q says nothing was redacted", got)
		}
	}
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "1234567", "redacted", "[redacted]", "redacted]"} {
		if !New(s).Empty() {
			t.Errorf("New(%q) redacts; want it ignored", s)
		}
	}
	var r *Redactor
	if r.String("x") != "x" || r.Excerpt("a\nb", 0) != "a b" {
		t.Error("a nil Redactor changes text beyond cleaning it")
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	r := New("tok-5ecret-value")
	got := r.Excerpt("  Bearer tok-5ecret-value\r\nbad\x00\x1b[31m<script>\u202e  é  ", 0)
	if want := "Bearer [redacted] bad[31m<script> é"; got != want {
		t.Errorf("Excerpt = %q, want %q", got, want)
	}
	if got := r.Excerpt(strings.Repeat("é", 10), 4); got != "éééé…" {
		t.Errorf("cut Excerpt = %q", got)
	}
	// A secret split by a line break: its pieces are taken out before the
	// text is put on one line, and what is left is shorter than a piece.
	if got := New("abc def ghijklmnop").Excerpt("abc\r\ndef ghijklmnop", 0); got != "abc "+Marker {
		t.Errorf("Excerpt = %q, want the secret's piece out", got)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		secrets  []string
	}{
		{"https://api.example.com/v1", "https://api.example.com/v1", nil},
		{"https://u:pw-5ecret@h/v1?api-key=k-5ecret&api-version=2024", "https://u:xxxxx@h/v1?api-key=xxxxx&api-version=xxxxx",
			[]string{"pw-5ecret", "k-5ecret", "2024"}},
		{"https://tok-5ecret@h/#frag", "https://xxxxx@h/", []string{"tok-5ecret"}},
		{"redis://:pw-5ecret@redis:6379/0", "redis://:xxxxx@redis:6379/0", []string{"pw-5ecret"}},
		{"http://h/?bare-5ecret", "http://h/?xxxxx", []string{"bare-5ecret"}},
		{"http://h/?k=a%2Fb", "http://h/?k=xxxxx", []string{"a/b", "a%2Fb"}},
		{"://bad@host?x", "(an unparsable URL, not shown: it may hold credentials)", nil},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		got := strings.Join(URLSecrets(tt.in), " ")
		for _, s := range tt.secrets {
			if !strings.Contains(" "+got+" ", " "+s+" ") {
				t.Errorf("URLSecrets(%q) = %q, want %q in it", tt.in, got, s)
			}
		}
	}
}

// FuzzString checks the promise: whatever the secret and the text, the
// redacted text holds neither the secret nor any piece of MinPiece bytes
// of it, and a text without any of it is left as it is.
func FuzzString(f *testing.F) {
	f.Add("sk-test-QX7vTq3KzL9mWp2RrJ4n", "key sk-test-QX7vTq3K")
	f.Add("abc[redacted]def", "abc[redacabc[redacted]defted]def")
	f.Add("d]xyzabc", "[redacted]xyzabc")
	f.Add("aaaaaaaaaaaaaaaa", strings.Repeat("a", 100))
	f.Add(key164, "preamble: "+key164)
	f.Fuzz(func(t *testing.T, secret, text string) {
		r := New(secret)
		got := r.String(text)
		if r.Empty() {
			if got != text {
				t.Fatalf("an empty Redactor changed %q to %q", text, got)
			}
			return
		}
		for _, form := range forms(secret) {
			if strings.Contains(got, form) {
				t.Fatalf("String(%q) = %q holds the secret %q", text, got, form)
			}
			for i := 0; i+MinPiece <= len(form); i++ {
				if strings.Contains(got, form[i:i+MinPiece]) {
					t.Fatalf("String(%q) = %q holds %q of the secret %q", text, got, form[i:i+MinPiece], form)
				}
			}
		}
		if utf8.ValidString(text) && utf8.ValidString(secret) && !strings.Contains(got, Marker) && got != text {
			t.Fatalf("String(%q) = %q: changed without a marker", text, got)
		}
		if ex := r.Excerpt(text, 50); strings.Contains(ex, secret) {
			t.Fatalf("Excerpt(%q) = %q holds the secret", text, ex)
		}
	})
}

// BenchmarkString redacts a log line of about 200 bytes that holds no
// secret, the common case, with the secrets of a typical configuration.
func BenchmarkString(b *testing.B) {
	r := New(key164, "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "redis-password", "azure-query-key-0123")
	line := `upstream_failed: the model server at https://api.example.com/v1 failed (HTTP 503: "model 'tiny' is loading"): try again later; the model server's log says more`
	b.ReportAllocs()
	for b.Loop() {
		if r.String(line) != line {
			b.Fatal("changed")
		}
	}
}
