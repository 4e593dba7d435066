package app_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/grpcreflect"
	"github.com/agentgate/agentgate/internal/apptest"
)

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := httpClient(t, false)
	for _, tc := range []struct {
		method, path, host string
		code               int
		body               string
	}{
		{"GET", "/", "", 200, "OK"},
		{"HEAD", "/", "", 200, ""},
		{"GET", "/", "healthcheck.railway.app", 200, "OK"},
		{"GET", "/health", "", 200, `{"status":"ok"}`},
		{"GET", "/health", "healthcheck.railway.app", 200, `{"status":"ok"}`},
		{"GET", "/health/live", "", 200, `{"status":"ok"}`},
		{"GET", "/nope", "", 404, "404 page not found"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code || strings.TrimSpace(string(body)) != tc.body {
			t.Errorf("%s %s (Host %q): %d %q, want %d %q", tc.method, tc.path, tc.host, res.StatusCode, body, tc.code, tc.body)
		}
	}
}

// TestReflectionListsServices asks reflection as grpcurl and buf curl do,
// through connect's grpcreflect client. Reflection is a bidi stream: it
// needs HTTP/2.
func TestReflectionListsServices(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	client := grpcreflect.NewClient(httpClient(t, true), srv.URL)
	stream := client.NewStream(testCtx(t))
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	var got []string
	for _, n := range names {
		got = append(got, string(n))
	}
	for _, want := range []string{"agent.v1.AgentService", "grpc.health.v1.Health"} {
		if !slices.Contains(got, want) {
			t.Errorf("reflection lists %v, missing %s", got, want)
		}
	}
	files, err := stream.FileContainingSymbol("agent.v1.AgentService")
	if err != nil || len(files) == 0 {
		t.Fatalf("FileContainingSymbol: %v (%d files)", err, len(files))
	}
	if _, err := stream.Close(); err != nil {
		t.Fatal(err)
	}
}

// Health checks and reflection answer without a token, so they must not
// buffer whatever body a stranger sends: a large one is refused by its size
// before it is read whole.
func TestOpenEndpointsCapRequestBodies(t *testing.T) {
	srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": "secret-token-0123456789"})
	for _, path := range []string{
		"/grpc.health.v1.Health/Check",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
	} {
		body := bytes.Repeat([]byte{0x0a, 0x01, 'x'}, 1<<20/3)
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/proto")
		if path != "/grpc.health.v1.Health/Check" {
			req.Header.Set("Content-Type", "application/connect+proto")
			req.Header.Set("Authorization", "Bearer secret-token-0123456789")
		}
		// h2c: reflection is a bidi stream, which needs HTTP/2.
		res, err := httpClient(t, true).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(got), "resource_exhausted") {
			t.Errorf("%s with a 1 MiB body: HTTP %d %s, want resource_exhausted", path, res.StatusCode, got)
		}
	}
}
