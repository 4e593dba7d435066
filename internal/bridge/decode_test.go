package bridge

import (
	"encoding/json"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// decodeInputs are requests of every shape decodeStrings meets: the ones
// it decodes, and the ones it leaves to protojson.
var decodeInputs = []string{
	`{}`, `{"text":"hello"}`, `{"text":""}`, ` { "text" : "a b" , "clientMessageId" : "c1" } `,
	`{"client_message_id":"c1","text":"x"}`, `{"agentId":"a","text":"é 😀"}`, `{"agent_id":"a"}`,
	`{"text":"a\nb"}`, `{"text":"\u00e9"}`, `{"te\u0078t":"a"}`, `{"text":"a","text":"b"}`,
	`{"text":"a","clientMessageId":"b","client_message_id":"c"}`, `{"text":null}`, `{"text":1}`,
	`{"text":["a"]}`, `{"nope":"a"}`, `{"text":"a","nope":1}`, "{\"text\":\"\xff\"}",
}

// TestDecodeStrings decodes each input as protojson does, or leaves it
// to protojson.
func TestDecodeStrings(t *testing.T) {
	t.Parallel()
	decoded := 0
	for _, in := range decodeInputs {
		checkDecode(t, []byte(in), func() { decoded++ })
	}
	if decoded < 6 {
		t.Errorf("decodeStrings decoded %d of the plain requests, want every one", decoded)
	}
}

// FuzzDecodeStrings: whatever the request, decodeStrings agrees with
// protojson when it decodes.
func FuzzDecodeStrings(f *testing.F) {
	for _, in := range decodeInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || !isObject(data) {
			return
		}
		checkDecode(t, data, func() {})
	})
}

func checkDecode(t *testing.T, raw []byte, onDecoded func()) {
	t.Helper()
	got := &agentv1.SendMessageRequest{}
	if !decodeStrings(raw, got.ProtoReflect()) {
		return
	}
	onDecoded()
	want := &agentv1.SendMessageRequest{}
	if err := protojson.Unmarshal(raw, want); err != nil {
		t.Fatalf("%s: decoded as %v, where protojson refuses it: %v", raw, got, err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s: decoded as %v, protojson %v", raw, got, want)
	}
}
