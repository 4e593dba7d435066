package engine

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// presence keeps this replica's share of Stat.Subscribers in Redis.
//
// Each agent has a hash field per replica epoch holding that replica's count
// of client subscriptions; Stat sums the fields whose epoch is alive. An
// epoch is alive while its liveness key exists: the replica refreshes it
// every heartbeat with a TTL of three heartbeats, so the counts of a crashed
// replica stop counting within that TTL, and Stat deletes their fields.
//
// Counts change only by increments (HINCRBY), which commute, so concurrent
// subscribes and closes never overwrite each other. When a write may have
// been lost (Redis was unreachable, or had restarted and forgotten the
// liveness key), the replica starts a new epoch: it drops the old liveness
// key and writes its current local counts under the new epoch, so the
// uncertain old fields stop counting at once. An epoch is the replica id
// plus a random suffix, so a restarted replica never inherits its
// predecessor's counts.
type presence struct {
	rdb     *redis.Client
	keys    keyspace
	replica string
	every   time.Duration // heartbeat interval
	timeout time.Duration // per Redis call
	log     *slog.Logger

	// rotateMu serialises rotations, which the loop and add both start.
	rotateMu sync.Mutex

	mu      sync.Mutex
	epoch   string
	counts  map[string]int64 // agent -> local client subscriptions
	pending map[string]int64 // agent -> changes not yet written
	stale   []string         // abandoned epochs whose liveness keys remain
	dirty   bool             // Redis may disagree with counts: start a new epoch

	kick chan struct{} // wakes the loop to write pending changes
	done chan struct{}
	wg   sync.WaitGroup
}

func newPresence(rdb *redis.Client, keys keyspace, replica string, every, timeout time.Duration, log *slog.Logger) *presence {
	return &presence{
		rdb: rdb, keys: keys, replica: replica, every: every, timeout: timeout, log: log,
		epoch:   newEpoch(replica),
		counts:  make(map[string]int64),
		pending: make(map[string]int64),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

func newEpoch(replica string) string {
	return replica + "/" + rand.Text()[:10]
}

// ttl is how long an epoch stays alive without a heartbeat.
func (p *presence) ttl() time.Duration { return 3 * p.every }

// start registers the first epoch and starts the heartbeat.
func (p *presence) start(ctx context.Context) error {
	if err := p.rdb.Set(ctx, p.keys.replica(p.epoch), p.replica, p.ttl()).Err(); err != nil {
		return err
	}
	p.wg.Add(1)
	go p.loop()
	return nil
}

// add changes an agent's local count by delta and writes the change now, so
// that Stat reflects a subscription as soon as Subscribe or Close returns.
// If Redis may have lost counts, a new epoch is started first. If the write
// fails, the local change is kept only for a subscription that ended
// (delta < 0; it is gone either way), and the loop repairs Redis with a new
// epoch.
//
// The write has its own deadline rather than the caller's: a write cut
// short leaves the count uncertain and costs a new epoch, which a caller
// must not be able to force.
func (p *presence) add(agentID string, delta int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if err := p.repair(ctx); err != nil && delta > 0 {
		return err
	}
	p.mu.Lock()
	p.counts[agentID] += delta
	p.tidyLocked(agentID)
	epoch := p.epoch
	p.mu.Unlock()
	err := scriptCount.Run(ctx, p.rdb, []string{p.keys.agent(agentID).subs}, epoch, delta).Err()
	if err != nil {
		p.mu.Lock()
		if delta > 0 {
			p.counts[agentID] -= delta
			p.tidyLocked(agentID)
		}
		p.dirty = true
		p.mu.Unlock()
		p.wake()
	}
	return err
}

// markDirty records that Redis may have lost this replica's counts: the
// pub/sub connection dropped, so Redis may have restarted empty.
func (p *presence) markDirty() {
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
	p.wake()
}

func (p *presence) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// addLater changes an agent's local count by delta and leaves the write to
// the loop. It never blocks, so the pub/sub reader can call it when it ends
// subscriptions.
func (p *presence) addLater(agentID string, delta int64) {
	p.mu.Lock()
	p.counts[agentID] += delta
	p.tidyLocked(agentID)
	p.pending[agentID] += delta
	p.mu.Unlock()
	p.wake()
}

func (p *presence) tidyLocked(agentID string) {
	if p.counts[agentID] == 0 {
		delete(p.counts, agentID)
	}
}

// alive reports which epochs are alive, for Stat.
func (p *presence) alive(ctx context.Context, epochs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(epochs))
	if len(epochs) == 0 {
		return out, nil
	}
	cmds := make([]*redis.IntCmd, len(epochs))
	_, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, e := range epochs {
			cmds[i] = pipe.Exists(ctx, p.keys.replica(e))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, e := range epochs {
		out[e] = cmds[i].Val() == 1
	}
	return out, nil
}

func (p *presence) loop() {
	defer p.wg.Done()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			p.heartbeat()
		case <-p.kick:
		}
		p.flush()
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		_ = p.repair(ctx)
		cancel()
	}
}

// heartbeat keeps the epoch alive. SET XX fails if the key is gone, which
// means Redis lost it (a restart, or an outage longer than the TTL) and
// with it, perhaps, the counts: then the epoch is replaced.
func (p *presence) heartbeat() {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	p.mu.Lock()
	epoch := p.epoch
	p.mu.Unlock()
	ok, err := p.rdb.SetXX(ctx, p.keys.replica(epoch), p.replica, p.ttl()).Result()
	if err != nil || !ok {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
	}
}

// flush writes the changes addLater recorded.
func (p *presence) flush() {
	p.mu.Lock()
	if len(p.pending) == 0 || p.dirty {
		p.mu.Unlock()
		return
	}
	pending, epoch := p.pending, p.epoch
	p.pending = make(map[string]int64)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if err := p.writeCounts(ctx, epoch, pending, nil); err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
	}
}

// repair starts a new epoch if Redis may disagree with the local counts.
func (p *presence) repair(ctx context.Context) error {
	p.mu.Lock()
	dirty := p.dirty
	p.mu.Unlock()
	if !dirty {
		return nil
	}
	p.rotateMu.Lock()
	defer p.rotateMu.Unlock()
	p.mu.Lock()
	dirty = p.dirty
	p.mu.Unlock()
	if !dirty { // rotated meanwhile
		return nil
	}
	return p.rotate(ctx)
}

// rotate starts a new epoch from the local counts. The new epoch is made
// alive before anyone can write under it, since Stat deletes the fields of
// epochs that are not alive. Changes made after the switch go to the new
// epoch; changes still in flight to the old one land in a dead epoch and do
// not count.
func (p *presence) rotate(ctx context.Context) error {
	next := newEpoch(p.replica)
	if err := p.rdb.Set(ctx, p.keys.replica(next), p.replica, p.ttl()).Err(); err != nil {
		return err // still dirty: the loop tries again
	}
	p.mu.Lock()
	p.stale = append(p.stale, p.epoch)
	p.epoch = next
	snapshot := make(map[string]int64, len(p.counts))
	for id, n := range p.counts {
		snapshot[id] = n
	}
	p.pending = make(map[string]int64)
	p.dirty = false
	stale := p.stale
	p.mu.Unlock()

	if err := p.writeCounts(ctx, next, snapshot, stale); err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		return err
	}
	p.log.Info("redis engine: subscriber counts re-registered", "epoch", next, "agents", len(snapshot))
	p.mu.Lock()
	p.stale = p.stale[len(stale):]
	p.mu.Unlock()
	return nil
}

// writeCounts refreshes the epoch's liveness key, adds counts under the
// epoch and deletes the liveness keys of stale epochs, in one round trip and
// in that order, so that a concurrent Stat may briefly count both epochs but
// never neither.
func (p *presence) writeCounts(ctx context.Context, epoch string, counts map[string]int64, stale []string) error {
	_, err := pipelined(ctx, p.rdb, func(pipe redis.Pipeliner) {
		pipe.Set(ctx, p.keys.replica(epoch), p.replica, p.ttl())
		for id, n := range counts {
			if n != 0 {
				scriptCount.EvalSha(ctx, pipe, []string{p.keys.agent(id).subs}, epoch, n)
			}
		}
		for _, e := range stale {
			pipe.Del(ctx, p.keys.replica(e))
		}
	})
	return err
}

// close stops the heartbeat and retires the epoch, so other replicas stop
// counting this one's subscribers at once rather than after the TTL.
func (p *presence) close() {
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	epochs := append([]string{p.epoch}, p.stale...)
	agents := make([]string, 0, len(p.pending)+len(p.counts))
	for id := range p.pending {
		agents = append(agents, id)
	}
	for id := range p.counts {
		agents = append(agents, id)
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	_, _ = p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, e := range epochs {
			pipe.Del(ctx, p.keys.replica(e))
		}
		for _, id := range agents {
			pipe.HDel(ctx, p.keys.agent(id).subs, p.epoch)
		}
		return nil
	})
}

// sumAlive adds up the counts of live epochs from a subs hash given as
// alternating fields and values, and returns the dead epochs' fields.
func sumAlive(fields []string, alive map[string]bool) (n int64, dead []string) {
	for i := 0; i+1 < len(fields); i += 2 {
		if !alive[fields[i]] {
			dead = append(dead, fields[i])
			continue
		}
		c, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err == nil && c > 0 {
			n += c
		}
	}
	return n, dead
}
