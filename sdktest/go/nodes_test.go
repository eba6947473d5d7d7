package sdktest

// Two cluster nodes of one presence, on a NATS JetStream server started in
// the test (internal/natstest), each behind httpapi with SubscribeShared as
// presenced -nats serves it. The suite runs against them as against the
// engine (forEachDeployment, forEachServerAndConfig): the REST tests on node
// 1, the subscribe tests with their clients on node 1 and their watchers on
// node 2. TestPresenceAcrossNodes checks the REST calls of node 2 against
// what a client does through node 1. Every wait for a change to reach the
// other node is bounded by eventWait and none asserts how soon it comes.

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	pubnub "github.com/pubnub/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/cluster"
	"github.com/presenced/presence/httpapi"
	"github.com/presenced/presence/internal/natstest"
)

// deployment is what a test runs against: the server its clients talk to
// and the one its watchers subscribe through (host:port each), the same
// server or two nodes of one presence.
type deployment struct {
	client, watch string
}

// hosts returns the servers of d, each once.
func (d deployment) hosts() []string {
	if d.watch == d.client {
		return []string{d.client}
	}
	return []string{d.client, d.watch}
}

// deployments are what the tests run against: the engine, and two cluster
// nodes.
var deployments = []struct {
	name  string
	start func(t *testing.T) deployment
}{
	{"engine", func(t *testing.T) deployment {
		host := newServer(t)
		return deployment{client: host, watch: host}
	}},
	{"two nodes", func(t *testing.T) deployment {
		node1, node2 := newCluster(t)
		return deployment{client: node1, watch: node2}
	}},
}

// forEachDeployment runs test once per deployment, as a subtest, with its
// servers started for it.
func forEachDeployment(t *testing.T, test func(t *testing.T, d deployment)) {
	for _, dep := range deployments {
		t.Run(dep.name, func(t *testing.T) { test(t, dep.start(t)) })
	}
}

// newCluster starts a NATS JetStream server and two cluster nodes on it,
// each on a connection of its own and served by httpapi with
// SubscribeShared, and returns their host:ports. Everything is stopped at
// the end of the test: each node's API, then the node, then its connection,
// and the NATS server last.
func newCluster(t *testing.T) (node1, node2 string) {
	t.Helper()
	srv := natstest.Start(t)
	var hosts [2]string
	for i := range hosts {
		nc := natstest.Connect(t, srv.URL())
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		node, err := cluster.New(ctx, nc, clusterConfig)
		cancel()
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, node.Close()) })
		hosts[i], _ = serve(t, node, httpapi.Config{SubscribeShared: true})
	}
	return hosts[0], hosts[1]
}

// hereNowEverywhere waits until Here Now of ch, with uuids and state, lists
// exactly want (in any order) through every server of d, and fails naming
// the server and its last answer if one does not within eventWait. With
// only, members whose uuids are not in it are left out of the comparison: a
// subscribe test's watcher, whose own presence rests on its long-polls, is
// not what it checks. A node that did not serve a change shows it once the
// change has reached it: this waits for that and does not bound it.
func hereNowEverywhere(t *testing.T, d deployment, ch string, want []occupant, only ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b occupant) int { return strings.Compare(a.UUID, b.UUID) })
	if want == nil {
		want = []occupant{}
	}
	for _, host := range d.hosts() {
		observer := newClient(t, host, uniq("observer"), nil)
		deadline := time.Now().Add(eventWait)
		for {
			got, err := hereNowOf(observer, ch, only)
			if err == nil && assert.ObjectsAreEqual(want, got) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("here now of %s through %s: %v (error %v), not %v, after %v", ch, host, got, err, want, eventWait)
			}
			time.Sleep(pollInterval)
		}
	}
}

// hereNowOf returns the members of ch that pn's Here Now lists, sorted by
// uuid, with empty states as nil; only those in only when it is not empty.
func hereNowOf(pn *pubnub.PubNub, ch string, only []string) ([]occupant, error) {
	resp, _, err := pn.HereNow().Channels([]string{ch}).IncludeUUIDs(true).IncludeState(true).Execute()
	if err != nil {
		return nil, err
	}
	out := []occupant{}
	for _, c := range resp.Channels {
		if c.ChannelName != ch {
			continue
		}
		for _, o := range c.Occupants {
			if len(only) > 0 && !slices.Contains(only, o.UUID) {
				continue
			}
			st := o.State
			if len(st) == 0 {
				st = nil
			}
			out = append(out, occupant{o.UUID, st})
		}
	}
	slices.SortFunc(out, func(a, b occupant) int { return strings.Compare(a.UUID, b.UUID) })
	return out, nil
}

// TestPresenceAcrossNodes: a client's heartbeat loop through node 1; Here
// Now, Where Now and Get State through node 2 agree, state set by the same
// uuid through node 2 shows through node 1, and a leave through node 1
// empties the channel on both.
func TestPresenceAcrossNodes(t *testing.T) {
	node1, node2 := newCluster(t)
	d := deployment{client: node1, watch: node2}
	ch1, ch2 := uniq("nodes"), uniq("nodes")
	carol := newClient(t, node1, uniq("carol"), presenceTimeout20)
	uuid := carol.Config.UUID
	carol.Presence().Channels([]string{ch1, ch2}).Connected(true).Execute()
	hereNowEverywhere(t, d, ch1, []occupant{{uuid, nil}})
	hereNowEverywhere(t, d, ch2, []occupant{{uuid, nil}})
	observer := newClient(t, node2, uniq("observer"), nil)
	assert.Equal(t, sorted(ch1, ch2), whereNow(t, observer, uuid))

	carolOn2 := newClient(t, node2, uuid, presenceTimeout20)
	set, _, err := carolOn2.SetState().Channels([]string{ch1}).State(map[string]any{"role": "host"}).Execute()
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"role": "host"}, set.State)
	hereNowEverywhere(t, d, ch1, []occupant{{uuid, map[string]any{"role": "host"}}})
	for name, pn := range map[string]*pubnub.PubNub{"node 1": carol, "node 2": observer} {
		got, _, err := pn.GetState().UUID(uuid).Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{ch1: map[string]any{"role": "host"}}, got.State, "get state through %s", name)
	}

	carol.Presence().Connected(false).Execute() // stops the loop; sends nothing
	status, err := carol.Leave().Channels([]string{ch1}).Execute()
	require.NoError(t, err)
	assert.Equal(t, 200, status.StatusCode)
	hereNowEverywhere(t, d, ch1, nil)
	hereNowEverywhere(t, d, ch2, []occupant{{uuid, nil}})
	assert.Equal(t, []string{ch2}, whereNow(t, observer, uuid))
}
