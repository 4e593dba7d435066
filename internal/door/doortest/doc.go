// Package doortest holds the frontend doors' tests on the wire: AG-UI's
// and the AI SDK's streams from the whole gateway, with the scripted
// responder and server tools of internal/tooltest, so that the tests see
// every kind of event, run errors, and runs of several steps that pause
// for the client's tools and a person's approvals. The Node tests of the
// doors with the real client libraries (clients/frontends) start the same
// gateway, internal/tooltest/gateway.
package doortest
