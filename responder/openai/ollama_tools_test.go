package openai

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// TestOllamaTools runs a tool round trip with a real model server: Ollama
// serving a tiny model made to call tools (toolModel). The first step
// offers two tools; Ollama parses the model's output into two parallel
// calls and streams them its own way (each whole in one chunk, with ids
// Ollama makes up), which reach the Stream as two calls with their
// arguments, and the step finishes with tool_calls. The second step sends
// the calls and their results back as assistant tool_calls and tool
// messages: the model answers with text only when the last tool message
// reached it (its last character decides what the model writes), so a
// result that does not end the prompt the same way has the model call the
// tools again.
//
// Like TestOllama, it needs OLLAMA_BIN (scripts/ollama.sh), and skips
// without it except in CI.
func TestOllamaTools(t *testing.T) {
	bin := os.Getenv("OLLAMA_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("OLLAMA_BIN is not set; scripts/test.sh sets it from scripts/ollama.sh")
		}
		t.Skip("OLLAMA_BIN is not set: run eval \"$(scripts/ollama.sh)\" to run this test")
	}
	t.Parallel()
	base := startOllama(t, bin)
	gguf := filepath.Join(t.TempDir(), "tools.gguf")
	writeToolModel(t, gguf)
	// The template names .Tools, which makes Ollama offer the model tools
	// and parse its output for calls; it has no tool call syntax, so Ollama
	// takes output that begins with a JSON object for calls.
	createNamedModel(t, bin, base, "tooly", gguf, "{{- if .Tools }}{{ end }}{{- range .Messages }} {{ .Content }}{{ end }}", 12)
	h := newHarness(t, base+"/v1", func(c *Config) {
		c.APIKey, c.Model, c.IdleTimeout = "", "tooly", 30*time.Second
		c.Temperature = new(0.0)
	})

	req := respondertest.NewRequest("what time is it?")
	req.Tools = toolDefs(t,
		`{"name":"get_time","description":"The time in a zone.","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}`,
		`{"name":"get_weather","description":"The weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}`)
	first := ollamaStep(t, h, req)
	calls := first.Stream.Reply().ToolCalls
	if len(calls) != 2 || calls[0].Name != "get_time" || calls[0].Arguments != `{"zone":"UTC"}` ||
		calls[1].Name != "get_weather" || calls[1].Arguments != `{"city":"Paris"}` {
		t.Fatalf("calls %+v, want get_time and get_weather with their arguments; events %q", calls, first.Stream.Lines())
	}
	if calls[0].ID == "" || calls[0].ID == calls[1].ID {
		t.Errorf("call ids %q and %q: want two distinct ids", calls[0].ID, calls[1].ID)
	}
	if first.Result.FinishReason != responder.FinishToolCalls || first.Result.Usage == nil || first.Result.Usage.Model != "tooly" {
		t.Errorf("result %+v (usage %+v), want tool_calls with usage", first.Result, first.Result.Usage)
	}

	answered, err := first.Next(map[string]tool.Result{calls[0].ID: {Output: "12:00"}, calls[1].ID: {Output: "sunny!"}})
	if err != nil {
		t.Fatal(err)
	}
	second := ollamaStep(t, h, answered)
	if got := strings.TrimSpace(second.Stream.Reply().Text); got != "Thanks" || len(second.Stream.Reply().ToolCalls) != 0 {
		t.Errorf("after the results: %q, want the text Thanks and no call", second.Stream.Lines())
	}
	if second.Result.FinishReason != responder.FinishStop {
		t.Errorf("finish %q, want stop", second.Result.FinishReason)
	}
	if in0, in1 := first.Result.Usage.InputTokens, second.Result.Usage.InputTokens; in1 <= in0 {
		t.Errorf("input tokens %d then %d: the results did not lengthen the prompt", in0, in1)
	}

	other, err := first.Next(map[string]tool.Result{calls[0].ID: {Output: "12:00"}, calls[1].ID: {Output: "it failed", IsError: true}})
	if err != nil {
		t.Fatal(err)
	}
	third := ollamaStep(t, h, other)
	if n := len(third.Stream.Reply().ToolCalls); n != 2 || third.Result.FinishReason != responder.FinishToolCalls {
		t.Errorf("with a last result that ends otherwise: %q, finish %q; want the tools called again", third.Stream.Lines(), third.Result.FinishReason)
	}
}

// ollamaStep answers one step and checks the Stream's contract for it.
func ollamaStep(t *testing.T, h harness, req responder.Request) respondertest.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	out := respondertest.Run(ctx, h.r, req)
	if out.Err != nil {
		t.Fatalf("step %d: %v", req.Step, out.Err)
	}
	if err := out.Check(); err != nil {
		t.Fatalf("step %d: %v", req.Step, err)
	}
	t.Logf("step %d: %q, %+v %+v", req.Step, out.Stream.Lines(), out.Result, out.Result.Usage)
	return out
}

// The tokens of the tool model that its weights single out: the two calls
// it writes, and its answer.
const (
	callTime    = `{"name":"get_time","arguments":{"zone":"UTC"}}`
	callWeather = `{"name":"get_weather","arguments":{"city":"Paris"}}`
	answer      = "\u2581Thanks"
)

// writeToolModel writes a tiny llama-architecture GGUF model (F32, one
// layer, 32-dimensional, as ../shared/tools/ollama/tinygguf.py's) whose
// weights make it a chain of tokens instead of random: attention and the
// feed-forward network add nothing, so the next token depends on the last
// one alone, through its embedding. After any token it writes callTime;
// after callTime, callWeather; after callWeather, the end. After "!" it
// writes answer, then the end. So its output is two tool calls for any
// prompt, and text for a prompt that ends with "!".
func writeToolModel(t *testing.T, path string) {
	t.Helper()
	const embd, ff, heads, ctxLen = 32, 64, 2, 512
	vocab := []string{"<unk>", "<s>", "</s>"}
	for b := range 256 {
		vocab = append(vocab, fmt.Sprintf("<0x%02X>", b)) // byte fallback: llama's tokenizer needs them
	}
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:'-" {
		vocab = append(vocab, string(c))
	}
	vocab = append(vocab, callTime, callWeather, answer)
	const eos = 2
	index := func(tok string) int { return slices.Index(vocab, tok) }
	// Each token's embedding is a unit vector: its own direction for the
	// tokens that decide what comes next, direction 0 for all the others.
	direction := map[int]int{index(callTime): 1, index(callWeather): 2, index("!"): 3, index(answer): 4}
	// next[d] is the token written after a token of direction d.
	next := map[int]int{0: index(callTime), 1: index(callWeather), 2: eos, 3: index(answer), 4: eos}

	scores, types := make([]float32, len(vocab)), make([]int32, len(vocab))
	for i := range vocab {
		switch {
		case i == 0:
			types[i] = 2 // unknown
		case i < 3:
			types[i] = 3 // control
		case i < 259:
			types[i] = 6 // byte
		default:
			types[i], scores[i] = 1, -float32(i-259)
		}
	}
	var g ggufWriter
	g.kv("general.architecture", "llama")
	g.kv("general.name", "tiny-tools")
	g.kv("general.file_type", uint32(0))
	g.kv("general.alignment", uint32(32))
	g.kv("llama.context_length", uint32(ctxLen))
	g.kv("llama.embedding_length", uint32(embd))
	g.kv("llama.block_count", uint32(1))
	g.kv("llama.feed_forward_length", uint32(ff))
	g.kv("llama.attention.head_count", uint32(heads))
	g.kv("llama.attention.head_count_kv", uint32(heads))
	g.kv("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	g.kv("llama.rope.dimension_count", uint32(embd/heads))
	g.kv("llama.rope.freq_base", float32(10000))
	g.kv("llama.vocab_size", uint32(len(vocab)))
	g.kv("tokenizer.ggml.model", "llama")
	g.kv("tokenizer.ggml.tokens", vocab)
	g.kv("tokenizer.ggml.scores", scores)
	g.kv("tokenizer.ggml.token_type", types)
	g.kv("tokenizer.ggml.bos_token_id", uint32(1))
	g.kv("tokenizer.ggml.eos_token_id", uint32(eos))
	g.kv("tokenizer.ggml.unknown_token_id", uint32(0))
	g.kv("tokenizer.ggml.add_bos_token", true)

	embeddings, output := make([]float32, embd*len(vocab)), make([]float32, embd*len(vocab))
	for tok := range vocab {
		embeddings[tok*embd+direction[tok]] = 1
	}
	for d, tok := range next {
		output[tok*embd+d] = 10 // after the final norm, a logit of about 57 against 0
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	g.tensor("token_embd.weight", []uint64{embd, uint64(len(vocab))}, embeddings)
	g.tensor("output_norm.weight", []uint64{embd}, ones(embd))
	g.tensor("output.weight", []uint64{embd, uint64(len(vocab))}, output)
	g.tensor("blk.0.attn_norm.weight", []uint64{embd}, ones(embd))
	for _, name := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
		g.tensor("blk.0."+name+".weight", []uint64{embd, embd}, make([]float32, embd*embd))
	}
	g.tensor("blk.0.ffn_norm.weight", []uint64{embd}, ones(embd))
	g.tensor("blk.0.ffn_gate.weight", []uint64{embd, ff}, make([]float32, embd*ff))
	g.tensor("blk.0.ffn_up.weight", []uint64{embd, ff}, make([]float32, embd*ff))
	g.tensor("blk.0.ffn_down.weight", []uint64{ff, embd}, make([]float32, embd*ff))
	if err := os.WriteFile(path, g.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ggufWriter writes a GGUF file (version 3): its metadata, then its F32
// tensors, aligned to 32 bytes.
type ggufWriter struct {
	meta, infos, data bytes.Buffer
	nKV, nTensors     uint64
}

func (g *ggufWriter) str(b *bytes.Buffer, s string) {
	_ = binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
}

// The GGUF value types used here.
const (
	ggufUint32  = 4
	ggufInt32   = 5
	ggufFloat32 = 6
	ggufBool    = 7
	ggufString  = 8
	ggufArray   = 9
)

func (g *ggufWriter) kv(key string, v any) {
	g.nKV++
	g.str(&g.meta, key)
	le := binary.LittleEndian
	switch v := v.(type) {
	case string:
		_ = binary.Write(&g.meta, le, uint32(ggufString))
		g.str(&g.meta, v)
	case uint32:
		_ = binary.Write(&g.meta, le, []uint32{ggufUint32, v})
	case float32:
		_ = binary.Write(&g.meta, le, uint32(ggufFloat32))
		_ = binary.Write(&g.meta, le, v)
	case bool:
		_ = binary.Write(&g.meta, le, uint32(ggufBool))
		_ = binary.Write(&g.meta, le, v)
	case []string:
		_ = binary.Write(&g.meta, le, []uint32{ggufArray, ggufString})
		_ = binary.Write(&g.meta, le, uint64(len(v)))
		for _, s := range v {
			g.str(&g.meta, s)
		}
	case []float32:
		_ = binary.Write(&g.meta, le, []uint32{ggufArray, ggufFloat32})
		_ = binary.Write(&g.meta, le, uint64(len(v)))
		_ = binary.Write(&g.meta, le, v)
	case []int32:
		_ = binary.Write(&g.meta, le, []uint32{ggufArray, ggufInt32})
		_ = binary.Write(&g.meta, le, uint64(len(v)))
		_ = binary.Write(&g.meta, le, v)
	default:
		panic(fmt.Sprintf("gguf: no value type for %T", v))
	}
}

// tensor adds an F32 tensor; dims are ggml's, the fastest-varying first.
func (g *ggufWriter) tensor(name string, dims []uint64, values []float32) {
	g.nTensors++
	le := binary.LittleEndian
	g.str(&g.infos, name)
	_ = binary.Write(&g.infos, le, uint32(len(dims)))
	_ = binary.Write(&g.infos, le, dims)
	_ = binary.Write(&g.infos, le, uint32(0)) // F32
	_ = binary.Write(&g.infos, le, uint64(g.data.Len()))
	for _, v := range values {
		_ = binary.Write(&g.data, le, math.Float32bits(v))
	}
	pad(&g.data)
}

func pad(b *bytes.Buffer) { b.Write(make([]byte, (32-b.Len()%32)%32)) }

func (g *ggufWriter) bytes() []byte {
	var out bytes.Buffer
	out.WriteString("GGUF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(3))
	_ = binary.Write(&out, binary.LittleEndian, []uint64{g.nTensors, g.nKV})
	out.Write(g.meta.Bytes())
	out.Write(g.infos.Bytes())
	pad(&out)
	out.Write(g.data.Bytes())
	return out.Bytes()
}
