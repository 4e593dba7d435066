package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// This file holds what every call of the Redis engine goes through: its
// deadline, the classification of its errors, pipelines that survive a Redis
// restart, and the encoding of events.

// begin starts a call: it refuses calls after Close and bounds the call by
// OperationTimeout.
func (r *Redis) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := r.open(ctx); err != nil {
		return nil, nil, err
	}
	opCtx, cancel := context.WithTimeout(ctx, r.timeout)
	return opCtx, cancel, nil
}

// open refuses a call on a closed engine or with a finished context.
func (r *Redis) open(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// fail classifies an error of a call made with ctx. Errors of the
// connection, and a Redis that does not answer in time, become
// ErrUnavailable (wrapping the cause, so errors.Is still finds
// context.DeadlineExceeded). A caller that cancelled gets its context's
// error, as from the memory engine.
func (r *Redis) fail(ctx context.Context, err error) error {
	var rerr redis.Error
	switch {
	case r.closed.Load():
		return ErrClosed
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return err
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &rerr) && !transient(rerr):
		return fmt.Errorf("engine: redis: %w", err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// transient reports whether a Redis error reply means the server cannot
// serve now (loading, failing over, out of memory) rather than a bug.
func transient(err redis.Error) bool {
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "NOREPLICAS", "OOM"} {
		if strings.HasPrefix(err.Error(), prefix) {
			return true
		}
	}
	return false
}

func (r *Redis) now() string {
	return strconv.FormatInt(r.cfg.Now().UnixNano(), 10)
}

// pipelined runs fn's commands in one round trip (see withScripts).
func pipelined(ctx context.Context, rdb *redis.Client, fn func(redis.Pipeliner)) ([]redis.Cmder, error) {
	var cmds []redis.Cmder
	err := withScripts(ctx, rdb, func() error {
		var err error
		cmds, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error { fn(p); return nil })
		return err
	})
	return cmds, err
}

// withScripts runs send, which pipelines commands. Pipelined EVALSHA cannot
// fall back to EVAL by itself, so when Redis forgot the scripts (it
// restarted) they are loaded and send runs once more; the commands that
// failed with NOSCRIPT had no effect.
func withScripts(ctx context.Context, rdb *redis.Client, send func() error) error {
	err := send()
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return err
	}
	if err := loadScripts(ctx, rdb); err != nil {
		return err
	}
	return send()
}

// decodeEvent decodes an event as Redis holds it (see encodeForAppend). Its
// errors leave it to the caller to say where the event came from.
func decodeEvent(v any) (*agentv1.AgentEvent, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("stored event is %T, not a string", v)
	}
	ev := &agentv1.AgentEvent{}
	if err := proto.Unmarshal([]byte(s), ev); err != nil {
		return nil, fmt.Errorf("decode stored event: %w", err)
	}
	return ev, nil
}

// asUint reads a number that a script returned as an integer or a
// decimal string.
func asUint(v any) (uint64, error) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("negative %d", v)
		}
		return uint64(v), nil
	case string:
		return strconv.ParseUint(v, 10, 64)
	}
	return 0, fmt.Errorf("%T is not a number", v)
}

// asNanos reads Unix nanoseconds kept as a decimal string, 0 if empty.
func asNanos(v any) (int64, error) {
	s, err := asString(v)
	if err != nil || s == "" {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

func asString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%T is not a string", v)
	}
	return s, nil
}

func asStrings(v any) ([]string, error) { return asList(v, asString) }

// decodeEvents decodes a list of stored events.
func decodeEvents(v any) ([]*agentv1.AgentEvent, error) { return asList(v, decodeEvent) }

// asList reads a list, each element with elem; an empty list is nil.
func asList[T any](v any, elem func(any) (T, error)) ([]T, error) {
	vals, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a list", v)
	}
	var out []T
	for _, v := range vals {
		x, err := elem(v)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// leaseTTL rounds ttl up to whole milliseconds, the unit of PX, and to at
// least one.
func leaseTTL(ttl time.Duration) time.Duration {
	return max(((ttl+time.Millisecond-1)/time.Millisecond)*time.Millisecond, time.Millisecond)
}
