package agui

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNew refuses a bad Config with an error that names the setting, and
// never echoes a password of the URL.
func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		// want are words the error must hold; none means no error.
		want []string
	}{
		{"no URL", Config{}, []string{"URL is required"}},
		{"not http", Config{URL: "ftp://user:pw-5ecret@host/x"}, []string{"URL", "http or https", "ftp://user:xxxxx@host/x"}},
		{"no scheme", Config{URL: "localhost:8000"}, []string{"URL", "http or https"}},
		{"no host", Config{URL: "http:///agent"}, []string{"URL", "with a host"}},
		{"unparsable", Config{URL: "http://a b:pw-5ecret@host/%zz"}, []string{"URL is not a valid URL"}},
		{"newline in token", Config{URL: "http://h/", Token: "abc\n"}, []string{"Token", "control character"}},
		{"negative idle", Config{URL: "http://h/", IdleTimeout: -time.Second}, []string{"IdleTimeout", "negative"}},
		{"negative frame", Config{URL: "http://h/", MaxFrameBytes: -1}, []string{"MaxFrameBytes", "negative"}},
		{"https", Config{URL: "https://agents.example.com/run", Token: "t\tab"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "5ecret") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// TestNewDefaults fills the documented defaults.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	r, err := New(Config{URL: "http://localhost:8000/?key=x"})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := r.cfg.HTTPClient.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost < 64 || r.cfg.HTTPClient.Timeout != 0 || r.cfg.IdleTimeout != 60*time.Second ||
		r.cfg.MaxFrameBytes != 1<<20 || r.cfg.Logger == nil {
		t.Fatalf("defaults %+v", r.cfg)
	}
	if r.where != "http://localhost:8000/" {
		t.Fatalf("errors name the URL %q, want it without its query", r.where)
	}
}
