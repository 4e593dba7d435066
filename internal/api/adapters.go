package api

import (
	"context"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/edge"
)

// Connect returns the Handler as the generated Connect service interface,
// for agentv1connect.NewAgentServiceHandler.
func (h *Handler) Connect() agentv1connect.AgentServiceHandler { return connectHandler{h} }

// Methods returns the unary and server-streaming methods by name, for the
// WebSocket bridge. Converse, the bidirectional stream, is not among them:
// the socket is itself the duplex stream. A method of the service missing
// here makes the bridge refuse to start (and TestMethodsCoverTheService
// fail).
func (h *Handler) Methods() map[string]edge.Method {
	return map[string]edge.Method{
		"SendMessage": edge.Unary(h.SendMessage),
		"Subscribe":   edge.ServerStream(h.Subscribe),
		"GetHistory":  edge.Unary(h.GetHistory),
		"GetAgent":    edge.Unary(h.GetAgent),
		"ListAgents":  edge.Unary(h.ListAgents),
		"DeleteAgent": edge.Unary(h.DeleteAgent),
		"CancelRun":   edge.Unary(h.CancelRun),

		"SubmitToolResult": edge.Unary(h.SubmitToolResult),
		"DecideToolCall":   edge.Unary(h.DecideToolCall),
	}
}

// connectHandler serves the Handler's functions to Connect: each takes
// the request's message and wraps the response in one.
type connectHandler struct{ h *Handler }

var _ agentv1connect.AgentServiceHandler = connectHandler{}

// unary adapts a function of the Handler to a Connect unary method.
func unary[Req, Res any](ctx context.Context, req *connect.Request[Req], f func(context.Context, *Req) (*Res, error)) (*connect.Response[Res], error) {
	res, err := f(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (c connectHandler) SendMessage(ctx context.Context, req *connect.Request[agentv1.SendMessageRequest]) (*connect.Response[agentv1.SendMessageResponse], error) {
	return unary(ctx, req, c.h.SendMessage)
}

func (c connectHandler) Subscribe(ctx context.Context, req *connect.Request[agentv1.SubscribeRequest], stream *connect.ServerStream[agentv1.SubscribeResponse]) error {
	return c.h.Subscribe(ctx, req.Msg, stream.Send)
}

func (c connectHandler) Converse(ctx context.Context, stream *connect.BidiStream[agentv1.ConverseRequest, agentv1.ConverseResponse]) error {
	return c.h.Converse(ctx, stream)
}

func (c connectHandler) GetHistory(ctx context.Context, req *connect.Request[agentv1.GetHistoryRequest]) (*connect.Response[agentv1.GetHistoryResponse], error) {
	return unary(ctx, req, c.h.GetHistory)
}

func (c connectHandler) GetAgent(ctx context.Context, req *connect.Request[agentv1.GetAgentRequest]) (*connect.Response[agentv1.GetAgentResponse], error) {
	return unary(ctx, req, c.h.GetAgent)
}

func (c connectHandler) ListAgents(ctx context.Context, req *connect.Request[agentv1.ListAgentsRequest]) (*connect.Response[agentv1.ListAgentsResponse], error) {
	return unary(ctx, req, c.h.ListAgents)
}

func (c connectHandler) DeleteAgent(ctx context.Context, req *connect.Request[agentv1.DeleteAgentRequest]) (*connect.Response[agentv1.DeleteAgentResponse], error) {
	return unary(ctx, req, c.h.DeleteAgent)
}

func (c connectHandler) CancelRun(ctx context.Context, req *connect.Request[agentv1.CancelRunRequest]) (*connect.Response[agentv1.CancelRunResponse], error) {
	return unary(ctx, req, c.h.CancelRun)
}

func (c connectHandler) SubmitToolResult(ctx context.Context, req *connect.Request[agentv1.SubmitToolResultRequest]) (*connect.Response[agentv1.SubmitToolResultResponse], error) {
	return unary(ctx, req, c.h.SubmitToolResult)
}

func (c connectHandler) DecideToolCall(ctx context.Context, req *connect.Request[agentv1.DecideToolCallRequest]) (*connect.Response[agentv1.DecideToolCallResponse], error) {
	return unary(ctx, req, c.h.DecideToolCall)
}
