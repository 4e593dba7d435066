package app_test

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkRedisCost measures what one SendMessage costs Redis, one
// message after another on one agent: the commands Redis ran, counted by
// INFO commandstats (which counts the commands a script calls too), and
// the round trips the gateway made (a pipeline or a lone command each, as
// a go-redis hook sees them). It reports them per message, as
// redis-cmds/op and round-trips/op, and each command's count in the log.
//
//	go test -run '^$' -bench BenchmarkRedisCost -benchtime 200x ./internal/app
func BenchmarkRedisCost(b *testing.B) {
	srv, trips, send := countedGateway(b, "cost")
	send() // the agent exists from now on, as after any first message

	stats := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = stats.Close() })
	before := commandStats(b, stats)
	trips.Store(0)
	b.ResetTimer()
	for range b.N {
		send()
	}
	b.StopTimer()
	n := trips.Load()
	after := commandStats(b, stats)

	var total int64
	var lines []string
	for name, calls := range after {
		d := calls - before[name]
		if name == "info" || d == 0 {
			continue
		}
		total += d
		lines = append(lines, name+"="+strconv.FormatFloat(float64(d)/float64(b.N), 'f', 2, 64))
	}
	sort.Strings(lines)
	b.Logf("per SendMessage: %s", strings.Join(lines, " "))
	b.ReportMetric(float64(total)/float64(b.N), "redis-cmds/op")
	b.ReportMetric(float64(n)/float64(b.N), "round-trips/op")
}

// TestSendMessageRedisRoundTrips holds a SendMessage on Redis to at most
// three round trips to Redis, on average over back-to-back messages: the
// user message (which takes the reply lease, with what waits), the run's
// first events, and the reply (which releases the lease). The ephemeral
// events are not waited for, and may leave with the reply.
func TestSendMessageRedisRoundTrips(t *testing.T) {
	t.Parallel()
	_, trips, send := countedGateway(t, "trips")
	send() // the agent exists from now on
	const n = 50
	trips.Store(0)
	for range n {
		send()
	}
	if per := float64(trips.Load()) / n; per > 3 {
		t.Fatalf("%.2f round trips to Redis per SendMessage, want at most 3", per)
	}
}

// countedGateway starts a gateway on a fresh redis-server whose client
// counts its round trips in trips, and returns send, which sends agentID
// one message and waits for the reply.
func countedGateway(tb testing.TB, agentID string) (srv *redistest.Server, trips *atomic.Int64, send func()) {
	srv = redistest.Start(tb)
	trips = new(atomic.Int64)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	rdb.AddHook(tripCounter{trips})
	tb.Cleanup(func() { _ = rdb.Close() })
	gw := apptest.Start(tb, nil, apptest.Quiet(), func(o *app.Options) { o.Redis = rdb })
	apptest.AwaitReady(tb, gw.URL)
	c := newClient(tb, gw.URL, h2cConnect)
	return srv, trips, func() {
		tb.Helper()
		if _, err := c.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: "hi"})); err != nil {
			tb.Fatal(err)
		}
	}
}

// commandStats reads INFO commandstats: calls by command name.
func commandStats(tb testing.TB, rdb *redis.Client) map[string]int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]int64)
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			tb.Fatalf("commandstats line %q: %v", line, err)
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// tripCounter counts the client's round trips to Redis: one per command
// sent alone, one per pipeline. (Pub/sub has its own connection, which
// this does not see.)
type tripCounter struct{ n *atomic.Int64 }

func (tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestToolStepRedisRoundTrips measures a client tool's exchange on Redis:
// a SendMessage whose run pauses for the tool, then SubmitToolResult with
// wait, which resumes the run and follows its second step. It holds the
// exchange to at most seven round trips (five measured on a quiet
// machine): the message and the pausing step, as a plain message, the
// run's events leaving with them; the pending call's read; the answer,
// which takes the lease with the run; the step that ends the run,
// releasing the lease; and two for events that leave in pipelines of
// their own when the machine is busy (each run's start, which nothing
// waits for, may).
func TestToolStepRedisRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	trips := new(atomic.Int64)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	rdb.AddHook(tripCounter{trips})
	t.Cleanup(func() { _ = rdb.Close() })
	gw := apptest.Start(t, map[string]string{"CLIENT_TOOLS": `[{"name":"lookup","description":"Looks up."}]`}, apptest.Quiet(), func(o *app.Options) {
		o.Redis = rdb
		o.Responder = respondertest.Model(benchModel)
	})
	apptest.AwaitReady(t, gw.URL)
	c := newClient(t, gw.URL, h2cConnect)
	exchange := func() {
		res, err := c.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "tool-trips", Text: "client"}))
		if err != nil {
			t.Fatal(err)
		}
		call := res.Msg.GetReply().GetMessage().GetToolCalls()[0]
		done, err := c.SubmitToolResult(context.Background(), connect.NewRequest(&agentv1.SubmitToolResultRequest{AgentId: "tool-trips",
			ToolCallId: call.GetToolCallId(), Wait: true, Result: &agentv1.SubmitToolResultRequest_Output{Output: "found"}}))
		if err != nil || done.Msg.GetReply().GetMessage().GetText() != "ok" {
			t.Fatalf("the answer: %v, %v", done, err)
		}
	}
	exchange()
	const n = 30
	trips.Store(0)
	for range n {
		exchange()
	}
	per := float64(trips.Load()) / n
	t.Logf("%.2f round trips to Redis per client tool exchange", per)
	if per > 7 {
		t.Fatalf("%.2f round trips to Redis per client tool exchange, want at most 7", per)
	}
}
