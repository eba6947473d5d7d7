package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/natstest"
)

func TestHeartbeatJoinsAndRefreshes(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{})
	rec := record(t, n, events.Filter{SubKey: sk})

	res := beat(t, n, "alice", "lobby", "hall")
	assert.Equal(t, []string{"lobby", "hall"}, res.Joined)
	assert.Equal(t, []string{"alice"}, hereNow(t, n, "lobby"), "read-your-writes")
	res = beat(t, n, "alice", "lobby")
	assert.Empty(t, res.Joined, "present: a refresh")

	evs := rec.waitN(t, 2)
	assert.Equal(t, []string{"join lobby alice occ=1", "join hall alice occ=1"}, brief(evs))
	assert.Less(t, evs[0].Timetoken, evs[1].Timetoken)
	where, err := n.WhereNow(sk, "alice")
	require.NoError(t, err)
	assert.Equal(t, []string{"hall", "lobby"}, where)
}

func TestTwoNodesOnePresence(t *testing.T) {
	srv := natstest.Start(t)
	a := newNode(t, srv.URL(), Config{})
	b := newNode(t, srv.URL(), Config{})
	ra := record(t, a, events.Filter{SubKey: sk})
	rb := record(t, b, events.Filter{SubKey: sk})

	beat(t, a, "alice", "lobby")
	res := beat(t, b, "alice", "lobby")
	assert.Empty(t, res.Joined, "b sees a's join (or the bucket tells it)")
	_, err := b.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "bob", Channels: []string{"lobby"}, State: state(`{"lobby":{"mood":"ok"}}`)})
	require.NoError(t, err)
	_, err = a.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "alice", Channels: []string{"lobby"}})
	require.NoError(t, err)

	want := []string{"join lobby alice occ=1", "join lobby bob occ=2 {\"mood\":\"ok\"}", "state-change lobby bob occ=2 {\"mood\":\"ok\"}", "leave lobby alice occ=1"}
	ea, eb := ra.waitN(t, 4), rb.waitN(t, 4)
	assert.Equal(t, want, brief(ea))
	assert.Equal(t, brief(ea), brief(eb))
	for i := range ea {
		assert.Equal(t, ea[i].Timetoken, eb[i].Timetoken, "event %d: the same timetoken on every node", i)
	}
	eventually(t, "a sees bob", func() bool { return len(hereNow(t, a, "lobby")) == 1 })
	assert.Equal(t, []string{"bob"}, hereNow(t, a, "lobby"))
}

func TestTimeout(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{})
	rec := record(t, n, events.Filter{SubKey: sk})
	start := time.Now()
	_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, Timeout: time.Second})
	require.NoError(t, err)
	evs := rec.waitN(t, 2)
	assert.Equal(t, []string{"join c u occ=1", "timeout c u occ=0"}, brief(evs))
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "never before the deadline")
	assert.Empty(t, hereNow(t, n, "c"))
}
