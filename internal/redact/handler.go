package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler is a slog.Handler that redacts every record before the handler
// it wraps sees it: the message, and every attribute whose value is a
// string, an error, a fmt.Stringer, a []byte or anything else whose
// formatted form holds a secret, in groups too, the attributes added by
// With included. Other values (numbers, times, durations, bools) pass as
// they are.
type Handler struct {
	next slog.Handler
	r    *Redactor
}

// NewHandler wraps next so that nothing it handles holds one of r's
// secrets. A nil or empty r returns next itself.
func NewHandler(next slog.Handler, r *Redactor) slog.Handler {
	if r.Empty() {
		return next
	}
	return &Handler{next: next, r: r}
}

// Logger returns l with its handler wrapped by NewHandler, or l itself when
// r is empty or l redacts already: its handler is a *Handler, which only
// the gateway makes, from every configured secret, so that a responder's
// own secrets are among them.
func Logger(l *slog.Logger, r *Redactor) *slog.Logger {
	if _, ok := l.Handler().(*Handler); ok || r.Empty() {
		return l
	}
	return slog.New(NewHandler(l.Handler(), r))
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(h.attrs(attrs)), r: h.r}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), r: h.r}
}

func (h *Handler) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return out
}

func (h *Handler) attr(a slog.Attr) slog.Attr {
	a.Key = h.r.String(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.r.String(v.String()))
	case slog.KindGroup:
		a.Value = slog.GroupValue(h.attrs(v.Group())...)
	case slog.KindAny:
		a.Value = h.any(v)
	default:
		a.Value = v
	}
	return a
}

// any redacts a value of KindAny. Errors, Stringers and bytes become their
// redacted text, as a text or JSON handler would write them anyway; any
// other value is kept as it is unless its formatted form holds a secret.
func (h *Handler) any(v slog.Value) slog.Value {
	switch x := v.Any().(type) {
	case nil:
		return v
	case error:
		return slog.StringValue(h.r.String(x.Error()))
	case fmt.Stringer:
		return slog.StringValue(h.r.String(x.String()))
	case []byte:
		return slog.StringValue(h.r.String(string(x)))
	default:
		s := fmt.Sprintf("%+v", x)
		if r := h.r.String(s); r != s {
			return slog.StringValue(r)
		}
		return v
	}
}
