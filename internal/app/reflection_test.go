package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/agentgate/agentgate/internal/apptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// reflection is what one version of the reflection service answered: the
// services it lists and how many files describe agent.v1.AgentService.
type reflection struct {
	services []string
	files    int
}

// TestReflectionVersions asks each version of server reflection through
// its own generated gRPC client, so that neither can stand in for the
// other: v1, and v1alpha, which older grpcurl and many tools still use.
// (connect's grpcreflect client falls back from v1 to v1alpha by itself,
// so it cannot tell which one answered.)
func TestReflectionVersions(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for name, ask := range map[string]func(context.Context, *grpc.ClientConn) (reflection, error){
		"v1":      askV1,
		"v1alpha": askV1alpha,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ask(testCtx(t), conn)
			if err != nil {
				t.Fatalf("reflection %s: %v", name, err)
			}
			for _, want := range []string{"agent.v1.AgentService", "grpc.health.v1.Health"} {
				if !slices.Contains(got.services, want) {
					t.Errorf("reflection %s lists %v, missing %s", name, got.services, want)
				}
			}
			if got.files == 0 {
				t.Errorf("reflection %s has no file for agent.v1.AgentService", name)
			}
		})
	}
}

// askV1 lists the services and the files of AgentService through
// grpc.reflection.v1.ServerReflection.
func askV1(ctx context.Context, conn *grpc.ClientConn) (reflection, error) {
	stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return reflection{}, err
	}
	defer func() { _ = stream.CloseSend() }()
	var r reflection
	if err := stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
		return r, err
	}
	res, err := stream.Recv()
	if err != nil {
		return r, err
	}
	for _, s := range res.GetListServicesResponse().GetService() {
		r.services = append(r.services, s.GetName())
	}
	err = stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "agent.v1.AgentService"}})
	if err != nil {
		return r, err
	}
	if res, err = stream.Recv(); err != nil {
		return r, err
	}
	r.files = len(res.GetFileDescriptorResponse().GetFileDescriptorProto())
	return r, nil
}

// askV1alpha does what askV1 does through
// grpc.reflection.v1alpha.ServerReflection.
func askV1alpha(ctx context.Context, conn *grpc.ClientConn) (reflection, error) {
	stream, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return reflection{}, err
	}
	defer func() { _ = stream.CloseSend() }()
	var r reflection
	if err := stream.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		return r, err
	}
	res, err := stream.Recv()
	if err != nil {
		return r, err
	}
	for _, s := range res.GetListServicesResponse().GetService() {
		r.services = append(r.services, s.GetName())
	}
	err = stream.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "agent.v1.AgentService"}})
	if err != nil {
		return r, err
	}
	if res, err = stream.Recv(); err != nil {
		return r, err
	}
	r.files = len(res.GetFileDescriptorResponse().GetFileDescriptorProto())
	return r, nil
}
