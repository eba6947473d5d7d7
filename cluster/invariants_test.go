package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/natstest"
)

// stressSeed is the seed of the randomized tests: PRESENCE_SEED reproduces a
// run's choices (not JetStream's timing).
func stressSeed(t *testing.T) uint64 {
	if s := os.Getenv("PRESENCE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	n := rand.Uint64()
	t.Logf("PRESENCE_SEED=%d", n)
	return n
}

// replay applies a node's events in order and fails at the first that
// contradicts those before it: a second join, a leave or timeout or
// state-change of an absent member, an occupancy other than the replayed
// one, a timetoken that does not increase. It returns who is present at the
// end, by channel, and the number of joins.
func replay(t *testing.T, evs []events.Event) (map[string][]string, int) {
	t.Helper()
	present := map[string]map[string]bool{}
	joins := 0
	var last int64
	for i, ev := range evs {
		require.Greater(t, ev.Timetoken, last, "event %d: timetokens increase", i)
		last = ev.Timetoken
		set := present[ev.Channel]
		if set == nil {
			set = map[string]bool{}
			present[ev.Channel] = set
		}
		switch ev.Action {
		case events.Join:
			require.False(t, set[ev.UUID], "event %d: second join of %s on %s", i, ev.UUID, ev.Channel)
			set[ev.UUID] = true
			joins++
		case events.Leave, events.Timeout:
			require.True(t, set[ev.UUID], "event %d: %s of absent %s on %s", i, ev.Action, ev.UUID, ev.Channel)
			delete(set, ev.UUID)
		case events.StateChange:
			require.True(t, set[ev.UUID], "event %d: state-change of absent %s on %s", i, ev.UUID, ev.Channel)
		case events.Interval:
			continue
		}
		require.Equal(t, len(set), ev.Occupancy, "event %d: %s %s on %s", i, ev.Action, ev.UUID, ev.Channel)
	}
	out := map[string][]string{}
	for ch, set := range present {
		for u := range set {
			out[ch] = append(out[ch], u)
		}
		if len(out[ch]) == 0 {
			delete(out, ch)
		} else {
			slices.Sort(out[ch])
		}
	}
	return out, joins
}

// sameEvents checks that every node delivered the same events: action,
// channel, uuid, occupancy, state and timetoken.
func sameEvents(t *testing.T, recs []*recorder) []events.Event {
	t.Helper()
	first := recs[0].events()
	for i, r := range recs[1:] {
		evs := r.events()
		require.Equal(t, brief(first), brief(evs), "node %d delivered other events than node 0", i+1)
		for j := range evs {
			require.Equal(t, first[j].Timetoken, evs[j].Timetoken, "node %d, event %d: timetoken", i+1, j)
		}
	}
	return first
}

// stress runs workers doing random heartbeats (with state, short timeouts),
// leaves and state changes through random nodes, then waits until every
// member has timed out, and checks that every node delivered the same
// events, each consistent with the ones before it, with exactly one join per
// absent-to-present transition.
func stress(t *testing.T, nodes []*Node, workers, ops int) {
	seed := stressSeed(t)
	recs := make([]*recorder, len(nodes))
	for i, n := range nodes {
		recs[i] = record(t, n, events.Filter{SubKey: sk})
	}
	uuids := []string{"u0", "u1", "u2", "u3", "u4"}
	chans := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range ops {
				n := nodes[rng.IntN(len(nodes))]
				u, ch := uuids[rng.IntN(len(uuids))], chans[rng.IntN(len(chans))]
				var err error
				switch r := rng.IntN(10); {
				case r < 6:
					req := engine.HeartbeatRequest{SubKey: sk, UUID: u, Channels: []string{ch}, Timeout: time.Second}
					if r == 0 {
						req.State = map[string]json.RawMessage{ch: json.RawMessage(fmt.Sprintf(`{"n":%d}`, rng.IntN(3)))}
					}
					_, err = n.Heartbeat(bg, req)
				case r < 8:
					_, err = n.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: u, Channels: []string{ch}})
				default:
					_, err = n.SetState(bg, engine.SetStateRequest{SubKey: sk, UUID: u, Channels: []string{ch}, State: json.RawMessage(fmt.Sprintf(`{"s":%d}`, rng.IntN(3)))})
					if errors.Is(err, engine.ErrNotPresent) {
						err = nil
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if rng.IntN(8) == 0 {
					time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // let some expire
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Every member times out within a second and a bit: wait for the last
	// event, on every node.
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d empty", i), func() bool { return n.Stats().Members == 0 })
	}
	time.Sleep(3 * n0(nodes).cfg.Tick) // nothing more is coming; let the merge flush
	evs := sameEvents(t, recs)
	present, joins := replay(t, evs)
	assert.Empty(t, present, "every member timed out or left")
	st := nodes[0].Stats()
	assert.Equal(t, uint64(joins), st.Joins)
	assert.Equal(t, st.Joins, st.Leaves+st.Timeouts, "each join ends once")
	for i, n := range nodes {
		assert.Zero(t, n.Repairs(), "node %d kept up with the buckets", i)
	}
}

func n0(nodes []*Node) *Node { return nodes[0] }

func TestStressOneServer(t *testing.T) {
	srv := natstest.Start(t)
	nodes := []*Node{newNode(t, srv.URL(), Config{}), newNode(t, srv.URL(), Config{})}
	stress(t, nodes, 6, 60)
}

func TestStressR3(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster")
	}
	ss := natstest.StartCluster(t, 3)
	var nodes []*Node
	for i := range 3 {
		nodes = append(nodes, newNode(t, ss[i].URL(), Config{Replicas: 3}))
	}
	stress(t, nodes, 6, 40)
}

func TestStressBuckets(t *testing.T) {
	srv := natstest.Start(t)
	nodes := []*Node{newNode(t, srv.URL(), Config{Buckets: 4}), newNode(t, srv.URL(), Config{Buckets: 4})}
	stress(t, nodes, 6, 60)
}

// TestOneJoinWhateverRaces has heartbeats of one member race through every
// node: one join, whichever node wins.
func TestOneJoinWhateverRaces(t *testing.T) {
	srv := natstest.Start(t)
	nodes := []*Node{newNode(t, srv.URL(), Config{}), newNode(t, srv.URL(), Config{}), newNode(t, srv.URL(), Config{})}
	rec := record(t, nodes[0], events.Filter{SubKey: sk})
	var wg sync.WaitGroup
	joined := make(chan int, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := nodes[i%3].Heartbeat(context.Background(), engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, Timeout: time.Minute})
			assert.NoError(t, err)
			joined <- len(res.Joined)
		}()
	}
	wg.Wait()
	close(joined)
	total := 0
	for j := range joined {
		total += j
	}
	assert.Equal(t, 1, total, "one heartbeat reports the join")
	evs := rec.waitN(t, 1)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, []string{"join c u occ=1"}, brief(rec.events()))
	_ = evs
}
