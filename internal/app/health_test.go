package app_test

import (
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

func TestReflectionListsServices(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	// Reflection is a bidi stream: it needs HTTP/2, as grpcurl uses it.
	for _, h2c := range []bool{true} {
		client := grpcreflect.NewClient(httpClient(t, h2c), srv.URL)
		stream := client.NewStream(testCtx(t))
		names, err := stream.ListServices()
		if err != nil {
			t.Fatalf("ListServices (h2c %v): %v", h2c, err)
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
}
