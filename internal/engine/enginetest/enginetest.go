// Package enginetest is the contract test suite of engine.Engine. Every
// engine runs it, so that the agent service can rely on the guarantees
// documented in package engine whichever engine a deployment uses.
//
// Run covers one engine instance; RunShared covers two instances that share
// one store, as two replicas of the gateway behind a load balancer do.
//
// The suite does not sleep to synchronise: it waits for events with a
// deadline, and only polls (every millisecond) to wait out lease TTLs of a
// few milliseconds.
package enginetest

import (
	"testing"

	"github.com/agentgate/agentgate/internal/engine"
)

// Factory creates an engine for one test with cfg. The engine must start
// empty (or at least hold no agent the test did not create) and should be
// closed by t.Cleanup; the suite closes it too.
type Factory func(t *testing.T, cfg engine.Config) engine.Engine

// Run runs the contract tests against the engines newEngine creates. Each
// subtest creates its own engine and runs in parallel with the others.
func Run(t *testing.T, newEngine func(t *testing.T, cfg engine.Config) engine.Engine) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"AppendAssignsSeqAndKeepsInput", testAppendAssignsSeq},
		{"SeqGapFreeUnderConcurrentAppends", testConcurrentAppends},
		{"ReadBoundsAndTrim", testReadBoundsAndTrim},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"Leases", testLeases},
		{"LeaseExpires", testLeaseExpires},
		{"RenewExtendsLease", testRenewExtendsLease},
		{"AppendReplyFencing", testAppendReplyFencing},
		{"PublishInterleavesWithAppends", testPublishInterleaves},
		{"SubscribeSeesOnlyLaterEvents", testSubscribeSeesOnlyLater},
		{"SlowSubscriberOverflows", testOverflow},
		{"SubscriptionClose", testSubscriptionClose},
		{"SubscriptionNotify", testNotify},
		{"SubscriptionSkipsDeltas", testSkipDeltas},
		{"Delete", testDelete},
		{"Stat", testStat},
		{"ListPagesByID", testList},
		{"Close", testClose},
		{"Epochs", testEpochs},
		{"RunProgress", testRunProgress},
		{"RunFolds", testRunFolds},
		{"RunBounded", testRunBounded},
		{"RunExpiresWithLease", testRunExpiresWithLease},
		{"CancelRun", testCancelRun},
		{"ClaimWithAppend", testClaimWithAppend},
		{"BeginWithAppend", testBeginWithAppend},
		{"Settle", testSettle},
		{"Due", testDue},
		{"DueOrder", testDueOrder},
		{"RunInSteps", testRunInSteps},
		{"ResumeWhileLeaseHeld", testResumeWhileLeaseHeld},
		{"UserMessageClosesPause", testUserMessageClosesPause},
		{"CancelClosesPause", testCancelClosesPause},
		{"PauseWithNewerMessage", testPauseWithNewerMessage},
		{"StepProgress", testStepProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newEngine)
		})
	}
}
