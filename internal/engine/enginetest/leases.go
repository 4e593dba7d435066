package enginetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/engine"
)

// This file tests reply leases and the fencing of AppendReply.

func testLeases(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)

	l1, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok || l1.AgentID != "a" || l1.Token == "" {
		t.Fatalf("AcquireLease = %+v, %v, %v; want a lease", l1, ok, err)
	}
	if l, ok, err := e.AcquireLease(ctx, "a", time.Hour); err != nil || ok {
		t.Fatalf("AcquireLease while held = %+v, %v, %v; want ok false and no error", l, ok, err)
	}
	if _, ok, err := e.AcquireLease(ctx, "b", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease of another agent: ok %v, err %v; leases are per agent", ok, err)
	}
	if err := e.RenewLease(ctx, l1, time.Hour); err != nil {
		t.Fatalf("RenewLease of a held lease: %v", err)
	}
	if err := e.ReleaseLease(ctx, l1); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if err := e.RenewLease(ctx, l1, time.Hour); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("RenewLease after release: %v, want ErrLeaseLost", err)
	}
	l2, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok || l2.Token == l1.Token {
		t.Fatalf("AcquireLease after release = %+v, %v, %v; want a new lease with a new token", l2, ok, err)
	}
	if err := e.ReleaseLease(ctx, l1); err != nil {
		t.Fatalf("ReleaseLease of a lost lease: %v, want a no-op", err)
	}
	if _, ok, _ := e.AcquireLease(ctx, "a", time.Hour); ok {
		t.Fatal("releasing a lost lease released the current holder's lease")
	}
	if err := e.RenewLease(ctx, engine.Lease{AgentID: "a", Token: "forged"}, time.Hour); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("RenewLease with a foreign token: %v, want ErrLeaseLost", err)
	}
}

func testLeaseExpires(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	l1, ok, err := e.AcquireLease(ctx, "a", 5*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	var l2 engine.Lease
	eventually(t, "the lease expires after its ttl", func() bool {
		var ok bool
		l2, ok, err = e.AcquireLease(ctx, "a", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease: %v", err)
		}
		return ok
	})
	if err := e.RenewLease(ctx, l1, time.Hour); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("RenewLease of an expired, taken-over lease: %v, want ErrLeaseLost", err)
	}
	if err := e.ReleaseLease(ctx, l1); err != nil {
		t.Fatalf("ReleaseLease of an expired lease: %v", err)
	}
	if err := e.RenewLease(ctx, l2, time.Hour); err != nil {
		t.Fatalf("the new holder lost its lease to a stale release: %v", err)
	}
}

// testRenewExtendsLease proves that RenewLease extends the ttl without
// sleeping: a probe lease with the same short ttl, taken after the renewal,
// expires first, so the renewed lease has outlived its original ttl.
func testRenewExtendsLease(t *testing.T, newEngine Factory) {
	const short = 20 * time.Millisecond
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	l, ok, err := e.AcquireLease(ctx, "a", short)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	if err := e.RenewLease(ctx, l, time.Hour); err != nil {
		t.Fatalf("RenewLease: %v", err)
	}
	if _, ok, err := e.AcquireLease(ctx, "probe", short); err != nil || !ok {
		t.Fatalf("AcquireLease(probe): %v, %v", ok, err)
	}
	eventually(t, "the probe lease expires", func() bool {
		_, ok, err := e.AcquireLease(ctx, "probe", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease(probe): %v", err)
		}
		return ok
	})
	if _, ok, err := e.AcquireLease(ctx, "a", time.Hour); err != nil || ok {
		t.Fatalf("AcquireLease after the original ttl: ok %v, err %v; the renewal should still hold", ok, err)
	}
}

func testAppendReplyFencing(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	u1 := appendUser(t, e, "a", "q1")

	if _, err := appendReply(ctx, e, "a", replyMsg("a1", 1), 1, engine.Lease{}); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply without a lease: %v, want ErrLeaseLost", err)
	}
	lease, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	if _, err := appendReply(ctx, e, "a", replyMsg("a1", 1), 1, engine.Lease{AgentID: "a", Token: "forged"}); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply with a foreign token: %v, want ErrLeaseLost", err)
	}
	in := replyMsg("a1", 1)
	orig := in.String()
	r1, err := appendReply(ctx, e, "a", in, u1.GetSeq(), lease)
	if err != nil {
		t.Fatalf("AppendReply with the lease: %v", err)
	}
	if r1.GetSeq() != 2 || r1.GetAgentId() != "a" || r1.GetMessage().GetText() != "a1" {
		t.Fatalf("reply stored as %v, want seq 2 of agent a", r1)
	}
	if in.String() != orig {
		t.Fatal("AppendReply modified its input")
	}
	answered(t, e, "a", 1)
	for _, seq := range []uint64{0, 1} {
		if _, err := appendReply(ctx, e, "a", replyMsg("again", seq), seq, lease); !errors.Is(err, engine.ErrAlreadyAnswered) {
			t.Fatalf("AppendReply answering %d again: %v, want ErrAlreadyAnswered", seq, err)
		}
	}

	appendUser(t, e, "a", "q3")
	u4 := appendUser(t, e, "a", "q4")
	if _, err := appendReply(ctx, e, "a", replyMsg("a4", u4.GetSeq()), u4.GetSeq(), lease); err != nil {
		t.Fatalf("AppendReply to seq %d: %v", u4.GetSeq(), err)
	}
	answered(t, e, "a", u4.GetSeq())
	if _, err := appendReply(ctx, e, "a", replyMsg("a3", 3), 3, lease); !errors.Is(err, engine.ErrAlreadyAnswered) {
		t.Fatalf("AppendReply to seq 3 after 4 was answered: %v, want ErrAlreadyAnswered", err)
	}

	// An expired lease is fenced off once another holder has the lease.
	if err := e.ReleaseLease(ctx, lease); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	u6 := appendUser(t, e, "a", "q6")
	if _, err := appendReply(ctx, e, "a", replyMsg("a6", u6.GetSeq()), u6.GetSeq(), lease); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply with a released lease: %v, want ErrLeaseLost", err)
	}
	short, ok, err := e.AcquireLease(ctx, "a", 5*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	eventually(t, "the short lease expires", func() bool {
		_, ok, err := e.AcquireLease(ctx, "a", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease: %v", err)
		}
		return ok
	})
	if _, err := appendReply(ctx, e, "a", replyMsg("a6", u6.GetSeq()), u6.GetSeq(), short); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply with an expired lease: %v, want ErrLeaseLost", err)
	}
	answered(t, e, "a", u4.GetSeq())
	if p, _ := e.Read(ctx, "a", 0, 100); !slices.Equal(descriptions(p.Events), []string{"1:q1", "2:a1", "3:q3", "4:q4", "5:a4", "6:q6"}) {
		t.Fatalf("log %v: a rejected reply was appended", descriptions(p.Events))
	}

	// Replying to an agent that has no log fails even with a lease.
	gone, ok, err := e.AcquireLease(ctx, "nobody", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease(nobody): %v, %v", ok, err)
	}
	if _, err := appendReply(ctx, e, "nobody", replyMsg("x", 1), 1, gone); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("AppendReply to an agent without a log: %v, want ErrNotFound", err)
	}
}

func answered(t *testing.T, e engine.Engine, agentID string, want uint64) {
	t.Helper()
	ctx := testCtx(t)
	st, err := e.Stat(ctx, agentID)
	if err != nil || st.Answered != want {
		t.Fatalf("Stat.Answered = %d (err %v), want %d", st.Answered, err, want)
	}
	p, err := e.Read(ctx, agentID, 0, 0)
	if err != nil || p.Answered != want {
		t.Fatalf("Page.Answered = %d (err %v), want %d", p.Answered, err, want)
	}
}
