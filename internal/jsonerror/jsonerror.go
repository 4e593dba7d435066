// Package jsonerror writes the body of every HTTP refusal the gateway
// answers outside a protocol of its own (a door's request, a token or a
// content type refused at the edge): the status and the JSON object
// {"code": …, "message": …}. It is the shape of a Connect error, which
// AG-UI's HttpAgent and the AI SDK's transport show to their caller, so
// that a client reads every refusal the same way, whichever layer refused.
package jsonerror

import (
	"encoding/json"
	"net/http"
)

// Write answers with status and the JSON body {"code": code, "message":
// msg}. code is snake_case, as Connect codes are written
// ("invalid_argument", "unauthenticated"); msg says what to do, for a
// person.
func Write(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
}
