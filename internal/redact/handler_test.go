package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// TestHandler logs a secret in every place a record can hold it, through
// both of slog's handlers, and finds it nowhere in the output.
func TestHandler(t *testing.T) {
	t.Parallel()
	const secret = "tok-5ecret-value-0042"
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var out bytes.Buffer
		log := Logger(slog.New(newHandler(&out)), New(secret))
		if Logger(log, New(secret)) != log {
			t.Errorf("%s: Logger wrapped a redacting logger again", name)
		}
		u, _ := url.Parse("http://h/?k=" + secret)
		log.With("with", "w "+secret).WithGroup("g").Info("message "+secret,
			"string", "s "+secret,
			"err", errors.New("e "+secret),
			"stringer", u,
			"bytes", []byte("b "+secret),
			"slice", []string{"x", secret},
			slog.Group("group", "inner", secret[2:]),
			"n", 42,
		)
		got := out.String()
		t.Logf("%s: %s", name, got)
		if strings.Contains(got, secret[:MinPiece]) || strings.Contains(got, secret[len(secret)-MinPiece:]) {
			t.Errorf("%s: the secret is in the log line: %s", name, got)
		}
		for _, want := range []string{"message [redacted]", "s [redacted]", "e [redacted]", "b [redacted]", "42"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: log line lacks %q: %s", name, want, got)
			}
		}
	}
}

func TestHandlerEmpty(t *testing.T) {
	t.Parallel()
	h := slog.NewTextHandler(&bytes.Buffer{}, nil)
	if NewHandler(h, New("short")) != slog.Handler(h) {
		t.Error("an empty Redactor wrapped the handler")
	}
}
