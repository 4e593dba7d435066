package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// TestOllama answers with a real model server: Ollama serving a tiny model
// with random weights, deterministic at temperature 0. scripts/ollama.sh
// builds Ollama and writes the model, and scripts/test.sh exports their
// paths as OLLAMA_BIN and OLLAMA_TINY_GGUF. Without them the test skips,
// except in CI, where a skipped end-to-end test would hide a defect.
//
// The prompts were found by trying: "hi" reaches the end-of-sequence token
// after a few tokens (stop), "hello" runs into num_predict (length).
func TestOllama(t *testing.T) {
	bin, gguf := os.Getenv("OLLAMA_BIN"), os.Getenv("OLLAMA_TINY_GGUF")
	if bin == "" || gguf == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("OLLAMA_BIN or OLLAMA_TINY_GGUF is not set; scripts/test.sh sets both from scripts/ollama.sh")
		}
		t.Skip("OLLAMA_BIN and OLLAMA_TINY_GGUF are not set: run eval \"$(scripts/ollama.sh)\" to run this test")
	}
	t.Parallel()
	base := startOllama(t, bin)
	createModel(t, bin, base, gguf, 12)
	h := newHarness(t, base+"/v1", func(c *Config) {
		c.APIKey, c.Model, c.IdleTimeout = "", "tiny", 30*time.Second
		c.Temperature = new(0.0) // Ollama's OpenAI API samples at 1 unless told
	})

	for _, c := range []struct {
		prompt string
		finish responder.FinishReason
	}{{"hi", responder.FinishStop}, {"hello", responder.FinishLength}} {
		t.Run(string(c.finish), func(t *testing.T) {
			rec, res, err := h.respond(t, c.prompt)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%q: %q, %+v", c.prompt, rec.Deltas(), res.Usage)
			if res.FinishReason != c.finish {
				t.Errorf("finish %q, want %q", res.FinishReason, c.finish)
			}
			if len(rec.Deltas()) == 0 || len(rec.Events()) != len(rec.Deltas()) {
				t.Errorf("events %v, want text deltas only", rec.Lines())
			}
			if want := complete(t, base, c.prompt); rec.Reply().Text != want {
				t.Errorf("deltas make %q; the same prompt unstreamed is %q", rec.Reply().Text, want)
			}
			u := res.Usage
			if u == nil || u.Model != "tiny" || u.InputTokens <= 0 || u.OutputTokens <= 0 || u.OutputTokens > 12 {
				t.Fatalf("usage %+v", u)
			}
			if (c.finish == responder.FinishLength) != (u.OutputTokens == 12) {
				t.Errorf("%d output tokens for finish %q with num_predict 12", u.OutputTokens, c.finish)
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		req := respondertest.NewRequest("hello")
		req.History = []responder.Message{
			{Role: responder.RoleUser, Text: "hi"},
			{Role: responder.RoleAssistant, Text: "reply", ToolCalls: []responder.ToolCall{{ID: "call_1", Name: "echo", Arguments: `{"x":1}`, Result: "ok"}}},
		}
		ctx, cancel := context.WithTimeout(t.Context(), testWait)
		defer cancel()
		res, err := h.r.Respond(ctx, req, &respondertest.Recorder{})
		if err != nil || res.Usage == nil || res.Usage.InputTokens <= 12 {
			t.Errorf("result %+v, %v: want a reply to the longer prompt", res.Usage, err)
		}
	})
}

// listening is Ollama's log line once it listens; with port 0 it names
// the port it got.
var listening = regexp.MustCompile(`Listening on (127\.0\.0\.1:\d+)`)

// startOllama runs `ollama serve` on a free loopback port, with its models
// and its home in temporary directories, and returns its URL. The server
// is stopped by its PID when the test ends.
func startOllama(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "OLLAMA_HOST=127.0.0.1:0", "HOME="+dir,
		"OLLAMA_MODELS="+filepath.Join(dir, "models"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr, logDone := make(chan string, 1), make(chan struct{})
	var log bytes.Buffer
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Write(append(sc.Bytes(), '\n'))
			if m := listening.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case addr <- string(m[1]):
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		stopProcess(t, cmd, logDone)
		if t.Failed() {
			t.Logf("ollama serve's log:\n%s", log.String())
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case <-logDone:
		t.Fatal("ollama serve exited before it listened")
	case <-time.After(time.Minute):
		t.Fatal("ollama serve did not listen within a minute")
	}
	return ""
}

// stopProcess stops the server by its PID: SIGTERM, on which Ollama stops
// its model runners, and SIGKILL if it has not exited after a while.
func stopProcess(t *testing.T, cmd *exec.Cmd, logDone <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-logDone:
	case <-time.After(20 * time.Second):
		t.Errorf("ollama serve (pid %d) ignored SIGTERM; killing it", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		<-logDone
	}
	_ = cmd.Wait()
}

// createModel makes the model "tiny" from the GGUF file, greedy and
// limited to numPredict tokens.
func createModel(t *testing.T, bin, base, gguf string, numPredict int) {
	t.Helper()
	createNamedModel(t, bin, base, "tiny", gguf, "{{- range .Messages }}{{ .Content }} {{ end }}", numPredict)
}

// createNamedModel makes the model name from the GGUF file with the chat
// template, greedy and limited to numPredict tokens.
func createNamedModel(t *testing.T, bin, base, name, gguf, template string, numPredict int) {
	t.Helper()
	dir := t.TempDir()
	modelfile := filepath.Join(dir, "Modelfile")
	content := fmt.Sprintf("FROM %s\nTEMPLATE \"\"\"%s\"\"\"\nPARAMETER num_predict %d\nPARAMETER temperature 0\n", gguf, template, numPredict)
	if err := os.WriteFile(modelfile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "create", name, "-f", modelfile)
	cmd.Env = append(os.Environ(), "OLLAMA_HOST="+base[len("http://"):], "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ollama create: %v\n%s", err, out)
	}
}

// complete asks the server for the same reply without streaming, to check
// the streamed deltas against the text the server itself gives.
func complete(t *testing.T, base, prompt string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "tiny", "temperature": 0, "messages": []map[string]string{{"role": "user", "content": prompt}}})
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var c struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) == 0 {
		t.Fatalf("unstreamed reply %s: %v", b, err)
	}
	return c.Choices[0].Message.Content
}
