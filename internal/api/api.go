// Package api is agent.v1.AgentService over the agent service: a Handler
// has one function per method, over the generated request and response
// types, that translates the request into calls of agent.Service and its
// errors into Connect codes (ToConnect, package errcode). It holds no logic
// of its own.
//
// Two adapters call the same functions, so that every way in sees the
// same service: Handler.Connect serves them to Connect, gRPC and gRPC-Web
// clients (the generated agentv1connect.AgentServiceHandler), and
// Handler.Methods hands the unary and server-streaming ones, by name, to
// the WebSocket bridge, which calls them in process through the edge with
// the request it decoded from a frame. Who calls is the edge's business:
// the functions read the caller's identity from the context only to filter
// what ListAgents shows.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/errcode"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config configures a Handler.
type Config struct {
	// Service does the work. Required.
	Service *agent.Service
	// Heartbeat is how long a Subscribe or Converse stream may stay silent
	// before a heartbeat event is sent, so that proxies with idle timeouts
	// (Railway's is 5 minutes, many load balancers' 60 s) keep it open.
	// Default config.DefaultHeartbeat.
	Heartbeat time.Duration
	// Draining is closed when the server begins to shut down: open streams
	// then end with Unavailable so that clients reconnect elsewhere. Nil
	// means never.
	Draining <-chan struct{}
}

// Handler is agent.v1.AgentService: a function per method. It is safe for
// concurrent use.
type Handler struct {
	svc       *agent.Service
	heartbeat time.Duration
	draining  <-chan struct{}
}

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = config.DefaultHeartbeat
	}
	return &Handler{svc: cfg.Service, heartbeat: cfg.Heartbeat, draining: cfg.Draining}
}

// SendMessage appends a user message and returns it with the agent's
// complete reply.
func (h *Handler) SendMessage(ctx context.Context, m *agentv1.SendMessageRequest) (*agentv1.SendMessageResponse, error) {
	tools, err := agent.ToolDefs(m.GetTools())
	if err != nil {
		return nil, ToConnect(err)
	}
	res, err := h.svc.Send(ctx, m.GetAgentId(), m.GetText(), m.GetClientMessageId(), tools...)
	if err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.SendMessageResponse{
		Message:   res.Message,
		Reply:     res.Reply,
		Duplicate: res.Duplicate,
		Events:    res.Events,
	}, nil
}

// Subscribe streams the agent's events to respond: the replay after
// after_seq, then the live ones, until the client goes or the server
// drains. It calls respond(nil) once the subscription is live, before the
// first event: Connect sends the response headers then, so that a client
// waiting for them knows that it will see every later event.
func (h *Handler) Subscribe(ctx context.Context, req *agentv1.SubscribeRequest, respond func(*agentv1.SubscribeResponse) error) error {
	f, err := h.svc.Follow(ctx, req.GetAgentId(), agent.FollowOptions{After: req.AfterSeq, SkipDeltas: req.GetSkipDeltas(), Epoch: req.GetEpoch()})
	if err != nil {
		return ToConnect(err)
	}
	defer f.Close()
	if err := respond(nil); err != nil {
		return err
	}
	send := func(ev *agentv1.AgentEvent) error {
		return respond(&agentv1.SubscribeResponse{Event: ev})
	}
	return h.follow(ctx, f, send, nil, nil)
}

// follow replays, then streams live events to send until the client goes,
// the subscription ends or the server drains. It sends a heartbeat whenever
// the stream was silent for h.heartbeat.
//
// For Converse, in yields the end of the receive side: an error ends the
// stream, while a clean half-close (errClientDone) lets it run on until the
// reply to the last message the client sent (sent) has been delivered, as
// tools like grpcurl expect.
func (h *Handler) follow(ctx context.Context, f *agent.Follower, send func(*agentv1.AgentEvent) error, in <-chan error, sent *atomic.Uint64) error {
	if err := f.Start(ctx, send); err != nil {
		return ToConnect(err)
	}
	hb := time.NewTimer(h.heartbeat)
	defer hb.Stop()
	var answered uint64 // the newest user message whose reply was sent
	clientDone := false
	sendReset := func(ev *agentv1.AgentEvent) error {
		hb.Reset(h.heartbeat)
		if to := agent.ReplyTo(ev); to > answered {
			answered = to
		}
		return send(ev)
	}
	finished := func() bool { return clientDone && answered >= sent.Load() }
	for {
		select {
		case <-ctx.Done():
			return connect.NewError(connect.CodeCanceled, ctx.Err())
		case <-h.draining:
			return connect.NewError(connect.CodeUnavailable,
				fmt.Errorf("server is shutting down; reconnect and resume with after_seq=%d", f.Last()))
		case err := <-in:
			if !errors.Is(err, errClientDone) {
				return err
			}
			clientDone, in = true, nil
		case <-hb.C:
			if err := sendReset(heartbeat()); err != nil {
				return err
			}
		case <-f.Ready():
			if err := f.Pump(ctx, sendReset); err != nil {
				return ToConnect(err)
			}
		}
		if finished() {
			return nil
		}
	}
}

func heartbeat() *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		CreateTime: timestamppb.Now(),
		Kind:       &agentv1.AgentEvent_Heartbeat{Heartbeat: &agentv1.Heartbeat{}},
	}
}

// Converse is the typed twin of the WebSocket: the client's messages and
// the agent's events on one bidirectional stream, which only Connect's
// HTTP/2 protocols carry.
func (h *Handler) Converse(ctx context.Context, stream *connect.BidiStream[agentv1.ConverseRequest, agentv1.ConverseResponse]) error {
	first, err := stream.Receive()
	if errors.Is(err, io.EOF) {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("the first request must name the agent"))
	}
	if err != nil {
		return err
	}
	agentID := first.GetAgentId()
	f, err := h.svc.Follow(ctx, agentID, agent.FollowOptions{After: first.AfterSeq, SkipDeltas: first.GetSkipDeltas(), Epoch: first.GetEpoch()})
	if err != nil {
		return ToConnect(err)
	}
	defer f.Close()
	if err := stream.Send(nil); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The receive side runs in its own goroutine, since Receive blocks and
	// cannot be interrupted by ctx; it reports its end on in (buffered, so it
	// never blocks). It is not waited for: when this handler returns, net/http
	// closes the request body, which ends the blocked Receive.
	in := make(chan error, 1)
	sent := new(atomic.Uint64)
	go func() {
		in <- h.converseReceive(ctx, stream, agentID, first, sent)
	}()
	send := func(ev *agentv1.AgentEvent) error {
		return stream.Send(&agentv1.ConverseResponse{Event: ev})
	}
	return h.follow(ctx, f, send, in, sent)
}

var errClientDone = errors.New("client closed the stream")

// converseReceive sends the client's messages, recording in sent the seq of
// the newest one, until the client half-closes (errClientDone) or fails.
func (h *Handler) converseReceive(ctx context.Context, stream *connect.BidiStream[agentv1.ConverseRequest, agentv1.ConverseResponse], agentID string, req *agentv1.ConverseRequest, sent *atomic.Uint64) error {
	for {
		if req.GetText() != "" {
			tools, err := agent.ToolDefs(req.GetTools())
			if err != nil {
				return ToConnect(err)
			}
			ev, _, err := h.svc.Enqueue(ctx, agentID, req.GetText(), req.GetClientMessageId(), tools...)
			if err != nil {
				return ToConnect(err)
			}
			if ev.GetSeq() > sent.Load() {
				sent.Store(ev.GetSeq())
			}
		}
		var err error
		if req, err = stream.Receive(); err != nil {
			if errors.Is(err, io.EOF) {
				return errClientDone
			}
			return err
		}
		switch {
		case req.GetAgentId() != "" && req.GetAgentId() != agentID:
			return connect.NewError(connect.CodePermissionDenied,
				fmt.Errorf("this stream talks to agent %q; open another stream for %q", agentID, req.GetAgentId()))
		case req.AfterSeq != nil:
			return connect.NewError(connect.CodeInvalidArgument, errors.New("after_seq is only allowed in the first request"))
		case req.GetSkipDeltas():
			return connect.NewError(connect.CodeInvalidArgument, errors.New("skip_deltas is only allowed in the first request"))
		case req.GetEpoch() != "":
			return connect.NewError(connect.CodeInvalidArgument, errors.New("epoch is only allowed in the first request"))
		}
	}
}

// GetHistory returns a page of the agent's persisted events after a seq.
func (h *Handler) GetHistory(ctx context.Context, m *agentv1.GetHistoryRequest) (*agentv1.GetHistoryResponse, error) {
	p, err := h.svc.History(ctx, m.GetAgentId(), m.GetAfterSeq(), int(m.GetLimit()))
	if err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.GetHistoryResponse{
		Events:   p.Events,
		FirstSeq: p.FirstSeq,
		LastSeq:  p.LastSeq,
		HasMore:  p.HasMore,
		Epoch:    p.Epoch,
	}, nil
}

// GetAgent describes the agent.
func (h *Handler) GetAgent(ctx context.Context, req *agentv1.GetAgentRequest) (*agentv1.GetAgentResponse, error) {
	st, err := h.svc.Get(ctx, req.GetAgentId())
	if err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.GetAgentResponse{Agent: agentInfo(st)}, nil
}

// ListAgents lists a page of the agents that the caller reaches
// (identity.Identity.Reaches): every agent for a service or an admin, a
// user's own for a user. The service filters before it pages (see
// agent.Service.List), so that neither a page nor its token names an
// agent the caller does not reach. A page of a user may hold fewer agents
// than the page size, or none, and still have a next page, when the
// service's bound on the work of one call ends it.
func (h *Handler) ListAgents(ctx context.Context, req *agentv1.ListAgentsRequest) (*agentv1.ListAgentsResponse, error) {
	stats, next, err := h.svc.List(ctx, req.GetPageToken(), int(req.GetPageSize()), edge.IdentityFrom(ctx))
	if err != nil {
		return nil, ToConnect(err)
	}
	res := &agentv1.ListAgentsResponse{NextPageToken: next, Agents: make([]*agentv1.Agent, 0, len(stats))}
	for _, st := range stats {
		res.Agents = append(res.Agents, agentInfo(st))
	}
	return res, nil
}

// DeleteAgent removes the agent and its history.
func (h *Handler) DeleteAgent(ctx context.Context, req *agentv1.DeleteAgentRequest) (*agentv1.DeleteAgentResponse, error) {
	if err := h.svc.Delete(ctx, req.GetAgentId()); err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.DeleteAgentResponse{}, nil
}

// CancelRun stops the agent's current reply, on whichever replica writes
// it.
func (h *Handler) CancelRun(ctx context.Context, req *agentv1.CancelRunRequest) (*agentv1.CancelRunResponse, error) {
	id, err := h.svc.Cancel(ctx, req.GetAgentId(), req.GetRunId())
	if err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.CancelRunResponse{RunId: id}, nil
}

// SubmitToolResult sends the result of a client tool's call.
func (h *Handler) SubmitToolResult(ctx context.Context, req *agentv1.SubmitToolResultRequest) (*agentv1.SubmitToolResultResponse, error) {
	in := agent.ToolResult{AgentID: req.GetAgentId(), ToolCallID: req.GetToolCallId(), Wait: req.GetWait()}
	switch r := req.GetResult().(type) {
	case *agentv1.SubmitToolResultRequest_Output:
		in.Output = r.Output
	case *agentv1.SubmitToolResultRequest_Error:
		in.Output, in.IsError = r.Error, true
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("output or error is required (an empty output is a result)"))
	}
	res, err := h.svc.SubmitToolResult(ctx, in)
	if err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.SubmitToolResultResponse{
		Result: res.Event, Duplicate: res.Duplicate, RunResumed: res.Resumed, Events: res.Events, Reply: res.Reply,
	}, nil
}

// DecideToolCall approves or denies a tool call that waits for a person.
// The decision records who gave it: the caller's identity.
func (h *Handler) DecideToolCall(ctx context.Context, req *agentv1.DecideToolCallRequest) (*agentv1.DecideToolCallResponse, error) {
	res, err := h.svc.DecideToolCall(ctx, agent.Decision{
		AgentID: req.GetAgentId(), ToolCallID: req.GetToolCallId(), InterruptID: req.GetInterruptId(),
		Approve: req.GetApprove(), Reason: req.GetReason(), ApprovalID: req.GetApprovalId(),
		DecidedBy: edge.IdentityFrom(ctx).Name(), Wait: req.GetWait(),
	})
	if err != nil {
		return nil, ToConnect(err)
	}
	return &agentv1.DecideToolCallResponse{
		Decision: res.Event, Duplicate: res.Duplicate, RunResumed: res.Resumed, Events: res.Events, Reply: res.Reply,
	}, nil
}

func agentInfo(st engine.Stat) *agentv1.Agent {
	a := &agentv1.Agent{
		AgentId:     st.AgentID,
		LastSeq:     st.LastSeq,
		FirstSeq:    st.FirstSeq,
		Connections: st.Subscribers,
		Epoch:       st.Epoch,
	}
	if !st.Created.IsZero() {
		a.CreateTime = timestamppb.New(st.Created)
	}
	if !st.LastActive.IsZero() {
		a.LastActivityTime = timestamppb.New(st.LastActive)
	}
	return a
}

// ToConnect maps an error of the agent service to a Connect error with the
// most specific code. Connect errors pass through unchanged.
func ToConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var ae *agent.Error
	if !errors.As(err, &ae) {
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	code, _ := errcode.Of(ae.Kind)
	return connect.NewError(code, errors.New(ae.Msg))
}
