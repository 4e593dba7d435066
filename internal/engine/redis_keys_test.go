package engine

import "testing"

// An agent's keys are named as the scripts and the deployments before
// expect, whatever their prefix and id.
func TestAgentKeys(t *testing.T) {
	for _, tc := range []struct{ prefix, id string }{{"", "a"}, {"agentgate:", "user-1:chat.2"}} {
		k := keyspace{prefix: tc.prefix}.agent(tc.id)
		base := tc.prefix + "{agent:" + tc.id + "}:"
		for name, got := range map[string]string{
			"meta": k.meta, "log": k.log, "idem": k.idem, "lease": k.lease, "run": k.run, "subs": k.subs,
			"calls": k.calls, "closes": k.closes, "events": k.channel, "control": k.control,
		} {
			if got != base+name {
				t.Errorf("prefix %q, agent %q: key %q, want %q", tc.prefix, tc.id, got, base+name)
			}
		}
	}
}
