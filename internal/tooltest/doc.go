// Package tooltest is test-only: the scripted models of the gateway's
// tests, which do what a message tells them (call tools, run several
// steps, fail, stream slowly or in a burst), and the server tools they
// call.
//
// Responder is the model in the process: a responder.Responder that
// reads the message's script (see its doc). OpenAI reads the same
// scripts as an OpenAI-compatible model server on a loopback port, for
// the tests of the openai responder in the gateway, and replays recorded
// streams of other servers. ServerTools are three server tools written in
// Go. The program in ./gateway is the whole gateway, configured by the
// environment as the server binary is, with Responder and ServerTools:
// the Node tests of the TypeScript client, of the console and of the
// frontend doors start it.
package tooltest
