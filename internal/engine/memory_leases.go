package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"slices"
	"time"
)

// The memory engine's Leases. Nothing survives the process here, so the
// agents Due lists are those whose holder gave its lease up on a failure
// (ReleaseLease) with their messages still waiting; the agent service
// sweeps them all the same, on the same code path as with Redis.

type memLease struct {
	token   string
	expires time.Time
}

// AcquireLease implements Leases.
func (m *Memory) AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (Lease, bool, error) {
	if err := m.enter(ctx); err != nil {
		return Lease{}, false, err
	}
	defer m.mu.Unlock()
	lease, ok := m.acquireLocked(agentID, ttl)
	return lease, ok, nil
}

// acquireLocked takes the agent's lease for ttl unless it is held.
func (m *Memory) acquireLocked(agentID string, ttl time.Duration) (Lease, bool) {
	now := m.cfg.Now()
	if l, ok := m.leases[agentID]; ok && now.Before(l.expires) {
		return Lease{}, false
	}
	l := memLease{token: rand.Text(), expires: now.Add(ttl)}
	m.leases[agentID] = l
	return Lease{AgentID: agentID, Token: l.token}, true
}

// RenewLease implements Leases.
func (m *Memory) RenewLease(ctx context.Context, lease Lease, ttl time.Duration) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if !m.leaseHeldLocked(lease) {
		return ErrLeaseLost
	}
	m.leases[lease.AgentID] = memLease{token: lease.Token, expires: m.cfg.Now().Add(ttl)}
	return nil
}

// ReleaseLease implements Leases.
func (m *Memory) ReleaseLease(ctx context.Context, lease Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[lease.AgentID]; ok && l.token == lease.Token {
		delete(m.leases, lease.AgentID)
	}
	return nil
}

// Settle implements Leases.
func (m *Memory) Settle(ctx context.Context, lease Lease, seen uint64, next Claim) (*Work, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if !m.leaseHeldLocked(lease) {
		return nil, ErrLeaseLost
	}
	a, ok := m.agents[lease.AgentID]
	if !ok {
		delete(m.leases, lease.AgentID)
		return nil, nil
	}
	return m.settleLocked(a, lease, seen, next), nil
}

// settleLocked keeps lease, which is held, for next.TTL and returns the
// work if a user message after seen waits; otherwise it releases the lease
// and the agent is no longer due.
func (m *Memory) settleLocked(a *memAgent, lease Lease, seen uint64, next Claim) *Work {
	if a.user > max(a.answered, seen) || a.resume != 0 {
		m.leases[lease.AgentID] = memLease{token: lease.Token, expires: m.cfg.Now().Add(next.TTL)}
		return &Work{Lease: lease, Page: m.workLocked(a, next)}
	}
	delete(m.leases, lease.AgentID)
	a.dueSince = time.Time{}
	return nil
}

// workLocked is the page a Work carries (see Work).
func (m *Memory) workLocked(a *memAgent, c Claim) Page {
	from := a.answered
	if a.resume != 0 {
		from = min(from, a.resume-1)
	}
	after := from - min(from, uint64(max(c.Context, 0)))
	return a.read(after, max(c.Context, 0)+WorkEvents)
}

// Due implements Leases.
func (m *Memory) Due(ctx context.Context, limit int) ([]string, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	type due struct {
		id    string
		since time.Time
	}
	var all []due
	for id, a := range m.agents {
		if !a.dueSince.IsZero() && !m.heldLocked(id) {
			all = append(all, due{id, a.dueSince})
		}
	}
	slices.SortFunc(all, func(x, y due) int { return cmp.Or(x.since.Compare(y.since), cmp.Compare(x.id, y.id)) })
	out := make([]string, 0, min(len(all), max(limit, 0)))
	for _, d := range all[:min(len(all), max(limit, 0))] {
		out = append(out, d.id)
	}
	return out, nil
}

// heldLocked reports whether the agent's lease is held by anyone now.
func (m *Memory) heldLocked(agentID string) bool {
	l, ok := m.leases[agentID]
	return ok && m.cfg.Now().Before(l.expires)
}

func (m *Memory) leaseHeldLocked(lease Lease) bool {
	l, ok := m.leases[lease.AgentID]
	return ok && l.token == lease.Token && m.cfg.Now().Before(l.expires)
}
