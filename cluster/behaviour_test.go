package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/console"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/httpapi"
	"github.com/presenced/presence/internal/natstest"
)

var (
	_ httpapi.Presence  = (*Node)(nil)
	_ console.Inspector = (*Node)(nil)
)

// streamMsgs counts the messages of every bucket of n.
func streamMsgs(t *testing.T, n *Node) uint64 {
	t.Helper()
	var total uint64
	for _, f := range append([]*follower{&n.groups.follower}, followersOf(n)...) {
		info, err := f.stream.Info(bg)
		require.NoError(t, err)
		total += info.State.Msgs
	}
	return total
}

func followersOf(n *Node) []*follower {
	var out []*follower
	for _, s := range n.shards {
		out = append(out, &s.follower)
	}
	return out
}

// TestBadInputAsOnOneNode: every bad call gets the engine's error, word for
// word, and writes nothing to JetStream.
func TestBadInputAsOnOneNode(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{MaxStateBytes: 64, MaxChannelsPerCall: 3, MaxGroupChannels: 2, Tick: time.Hour})
	e, err := engine.New(engine.Config{MinTimeout: time.Second, MaxStateBytes: 64, MaxChannelsPerCall: 3, MaxGroupChannels: 2})
	require.NoError(t, err)
	defer e.Close()
	beat(t, n, "u", "present")
	_, err = e.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"present"}, Timeout: time.Minute})
	require.NoError(t, err)

	type call struct {
		name string
		do   func(p httpapi.Presence) error
	}
	hb := func(r engine.HeartbeatRequest) func(p httpapi.Presence) error {
		return func(p httpapi.Presence) error { _, err := p.Heartbeat(bg, r); return err }
	}
	calls := []call{
		{"empty sub key", hb(engine.HeartbeatRequest{UUID: "u", Channels: []string{"a"}})},
		{"sub key with a slash", hb(engine.HeartbeatRequest{SubKey: "a/b", UUID: "u", Channels: []string{"a"}})},
		{"empty uuid", hb(engine.HeartbeatRequest{SubKey: sk, Channels: []string{"a"}})},
		{"no channels", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u"})},
		{"bad channel", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a", "b c"}})},
		{"reserved channel", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a-pnpres"}})},
		{"bad group", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Groups: []string{"g:1"}})},
		{"too many channels", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a", "b", "c", "d"}})},
		{"negative timeout", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, Timeout: -time.Second})},
		{"state not an object", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, State: map[string]json.RawMessage{"a": json.RawMessage(`[1]`)}})},
		{"state too large", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, State: map[string]json.RawMessage{"a": json.RawMessage(`{"x":"` + strings.Repeat("y", 80) + `"}`)}})},
		{"state for another channel", hb(engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, State: map[string]json.RawMessage{"b": json.RawMessage(`{}`)}})},
		{"leave, bad uuid", func(p httpapi.Presence) error {
			_, err := p.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "bad\x00", Channels: []string{"a"}})
			return err
		}},
		{"set state, not present", func(p httpapi.Presence) error {
			_, err := p.SetState(bg, engine.SetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"present", "absent"}, State: json.RawMessage(`{"a":1}`)})
			return err
		}},
		{"set state, no state", func(p httpapi.Presence) error {
			_, err := p.SetState(bg, engine.SetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"present"}})
			return err
		}},
		{"here now, bad paging", func(p httpapi.Presence) error {
			_, err := p.HereNow(engine.HereNowRequest{SubKey: sk, Channels: []string{"a"}, Limit: -1})
			return err
		}},
		{"where now, bad uuid", func(p httpapi.Presence) error { _, err := p.WhereNow(sk, ""); return err }},
		{"occupancy, bad channel", func(p httpapi.Presence) error { _, err := p.Occupancy(sk, "a*b"); return err }},
		{"group, bad name", func(p httpapi.Presence) error { return p.AddChannelsToGroup(sk, "g/1", "a") }},
		{"group, bad channel", func(p httpapi.Presence) error { return p.AddChannelsToGroup(sk, "g", "a b") }},
		{"group, full", func(p httpapi.Presence) error { return p.AddChannelsToGroup(sk, "g", "a", "b", "c") }},
		{"group, remove bad channel", func(p httpapi.Presence) error { return p.RemoveChannelsFromGroup(sk, "g", ",") }},
	}
	before := streamMsgs(t, n)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			want, got := c.do(e), c.do(n)
			require.Error(t, want)
			require.Error(t, got)
			assert.Equal(t, want.Error(), got.Error())
		})
	}
	assert.Equal(t, before, streamMsgs(t, n), "nothing written to JetStream")
}

// TestGroupsShared: a group changed through one node is read by the others,
// and a heartbeat through a group joins its channels.
func TestGroupsShared(t *testing.T) {
	srv := natstest.Start(t)
	a, b := newNode(t, srv.URL(), Config{}), newNode(t, srv.URL(), Config{})
	require.NoError(t, a.AddChannelsToGroup(sk, "g", "c2", "c1"))
	chs, err := a.GroupChannels(sk, "g")
	require.NoError(t, err)
	assert.Equal(t, []string{"c1", "c2"}, chs, "read-your-writes")
	eventually(t, "b sees the group", func() bool {
		chs, _ := b.GroupChannels(sk, "g")
		return len(chs) == 2
	})
	require.NoError(t, b.AddChannelsToGroup(sk, "g", "c3"))
	require.NoError(t, a.RemoveChannelsFromGroup(sk, "g", "c1"))
	chs, err = a.GroupChannels(sk, "g")
	require.NoError(t, err)
	assert.Equal(t, []string{"c2", "c3"}, chs, "a change through b is not lost to one through a")
	eventually(t, "b sees a's change", func() bool {
		chs, _ := b.GroupChannels(sk, "g")
		return len(chs) == 2 && chs[0] == "c2"
	})

	res, err := b.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}, Timeout: time.Minute,
		State: map[string]json.RawMessage{"g": json.RawMessage(`{"via":"g"}`)}})
	require.NoError(t, err)
	assert.Equal(t, []string{"c2", "c3"}, res.Joined)
	st, err := b.GetState(engine.GetStateRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"via":"g"}`, string(st["c3"]))

	groups, err := b.Groups(sk)
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, groups)
	require.NoError(t, b.DeleteGroup(sk, "g"))
	groups, err = b.Groups(sk)
	require.NoError(t, err)
	assert.Empty(t, groups)
	eventually(t, "a sees the group gone", func() bool { g, _ := a.Groups(sk); return len(g) == 0 })
	assert.Equal(t, []string{"u"}, hereNow(t, b, "c3"), "deleting a group leaves its members present")
}

// TestStateNeverLostToALaggingNode: a heartbeat without state through a node
// whose view still holds the old state does not write that old state back.
func TestStateNeverLostToALaggingNode(t *testing.T) {
	srv := natstest.Start(t)
	a, b := newNode(t, srv.URL(), Config{}), newNode(t, srv.URL(), Config{})
	beat(t, a, "u", "c")
	eventually(t, "b sees u", func() bool { return len(hereNow(t, b, "c")) == 1 })
	// Hold b's reading of the bucket back: it keeps the state before the
	// change in its view.
	b.shards[0].stop()
	_, err := a.SetState(bg, engine.SetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, State: json.RawMessage(`{"v":2}`)})
	require.NoError(t, err)
	_, err = b.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, Timeout: time.Minute})
	require.NoError(t, err)
	st, err := a.GetState(engine.GetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":2}`, string(st["c"]), "the state set through a stands")
}

// TestTimeoutNeverEarly: a member times out after its deadline, however
// heartbeats through several nodes moved it, and within about a second and
// the store's expiry delay after it.
func TestTimeoutNeverEarly(t *testing.T) {
	srv := natstest.Start(t)
	a, b := newNode(t, srv.URL(), Config{}), newNode(t, srv.URL(), Config{})
	rec := record(t, b, events.Filter{SubKey: sk})
	var last time.Time
	for i := range 4 {
		n := []*Node{a, b}[i%2]
		last = time.Now()
		_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, Timeout: 2 * time.Second})
		require.NoError(t, err)
		time.Sleep(500 * time.Millisecond) // heartbeats half a timeout apart: never a timeout between
	}
	evs := rec.waitN(t, 2)
	assert.Equal(t, []string{"join c u occ=1", "timeout c u occ=0"}, brief(evs))
	late := evs[1].Time.Sub(last.Add(2 * time.Second))
	assert.Positive(t, late, "never before the deadline")
	t.Logf("timeout %v after the deadline", late)
}

// TestIntervalModeSameOnEveryNode: above AnnounceMax, joins and leaves fold
// into interval events with deltas, the same on every node.
func TestIntervalModeSameOnEveryNode(t *testing.T) {
	srv := natstest.Start(t)
	cfg := Config{AnnounceMax: 2, Interval: time.Second, IntervalDeltas: true}
	a, b := newNode(t, srv.URL(), cfg), newNode(t, srv.URL(), cfg)
	ra, rb := record(t, a, events.Filter{SubKey: sk}), record(t, b, events.Filter{SubKey: sk})
	for i := range 4 {
		beat(t, []*Node{a, b}[i%2], fmt.Sprint("u", i), "busy")
	}
	var ivs []events.Event
	eventually(t, "an interval event with the joins", func() bool {
		ivs = nil
		for _, ev := range ra.events() {
			if ev.Action == events.Interval {
				ivs = append(ivs, ev)
			}
		}
		return len(ivs) > 0
	})
	assert.Equal(t, 4, ivs[0].Occupancy)
	assert.ElementsMatch(t, []string{"u2", "u3"}, ivs[0].Joined, "the joins past AnnounceMax")
	_, err := a.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "u0", Channels: []string{"busy"}})
	require.NoError(t, err)
	_, err = b.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "u1", Channels: []string{"busy"}})
	require.NoError(t, err)
	eventually(t, "back to announce mode: a flush", func() bool {
		evs := ra.events()
		last := evs[len(evs)-1]
		return last.Action == events.Interval && last.Occupancy == 2
	})
	eventually(t, "b caught up", func() bool { return len(rb.events()) >= len(ra.events()) })
	sameEvents(t, []*recorder{ra, rb})
}

// TestNATSDownFailsFastAndRecovers: with NATS gone, calls fail at once with
// engine.ErrUnavailable and apply nothing; when it is back, the node carries
// on by itself, its view and events included.
func TestNATSDownFailsFastAndRecovers(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{})
	rec := record(t, n, events.Filter{SubKey: sk})
	beat(t, n, "before", "c")

	srv.Kill()
	eventually(t, "disconnected", func() bool { return n.usable() != nil })
	start := time.Now()
	_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "during", Channels: []string{"c"}})
	require.ErrorIs(t, err, engine.ErrUnavailable)
	assert.Contains(t, err.Error(), "not connected to NATS")
	assert.Less(t, time.Since(start), n.cfg.Timeout, "without waiting for JetStream")
	require.ErrorIs(t, n.AddChannelsToGroup(sk, "g", "c"), engine.ErrUnavailable)
	assert.Equal(t, []string{"before"}, hereNow(t, n, "c"), "reads keep answering from the view")

	srv.Restart()
	eventually(t, "reconnected", func() bool { return n.usable() == nil })
	var res engine.HeartbeatResult
	eventually(t, "JetStream answers again", func() bool {
		res, err = n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "after", Channels: []string{"c"}, Timeout: time.Minute})
		return err == nil
	})
	assert.Equal(t, []string{"c"}, res.Joined)
	assert.Equal(t, []string{"after", "before"}, hereNow(t, n, "c"))
	evs := rec.waitN(t, 2)
	assert.Equal(t, []string{"join c before occ=1", "join c after occ=2"}, brief(evs), "nothing half-applied, no join twice")
}

// TestSettingsMustAgree: a node whose cluster-wide settings differ from the
// recorded ones is refused, naming the setting.
func TestSettingsMustAgree(t *testing.T) {
	srv := natstest.Start(t)
	newNode(t, srv.URL(), Config{Buckets: 2})
	nc := natstest.Connect(t, srv.URL())
	_, err := New(bg, nc, testConfig(Config{Buckets: 3}))
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "Buckets 3 here, 2 in JetStream")
	_, err = New(bg, nc, testConfig(Config{Buckets: 2, AnnounceMax: 5}))
	assert.ErrorContains(t, err, "AnnounceMax 5 here, 20 in JetStream")

	_, err = New(bg, nc, testConfig(Config{MarkerTTL: 2 * time.Second}))
	assert.ErrorContains(t, err, "MarkerTTL 2s is above MinTimeout")
}

// TestRestartKeepsPresence: nodes that stop and start again find every
// member, and a heartbeat after the restart is a refresh, not a join.
func TestRestartKeepsPresence(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv.URL())
	n, err := New(bg, nc, testConfig(Config{AnnounceMax: -1}))
	require.NoError(t, err)
	for i := range 50 {
		beat(t, n, fmt.Sprint("u", i), "c")
	}
	require.NoError(t, n.Close())

	m := newNode(t, srv.URL(), Config{AnnounceMax: -1})
	assert.Len(t, hereNow(t, m, "c"), 50, "every member is there")
	rec := record(t, m, events.Filter{SubKey: sk})
	res := beat(t, m, "u7", "c")
	assert.Empty(t, res.Joined, "no join storm")
	beat(t, m, "new", "c")
	evs := rec.waitN(t, 1)
	assert.Equal(t, []string{"join c new occ=51"}, brief(evs), "no event for members before the restart")
	_, err = n.HereNow(engine.HereNowRequest{SubKey: sk})
	require.ErrorIs(t, err, engine.ErrClosed)
}

// TestCallTimeout: a call that JetStream does not answer in Config.Timeout
// fails with engine.ErrUnavailable.
func TestCallTimeout(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{Timeout: time.Nanosecond})
	_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}})
	require.ErrorIs(t, err, engine.ErrUnavailable)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline"), err.Error())
}

// TestBucketsAreKeyValue: the buckets are JetStream key-value buckets that
// JetStream's own tools read: a member is a key.
func TestBucketsAreKeyValue(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{})
	_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u.1", Channels: []string{"c.x"}, Timeout: time.Minute,
		State: map[string]json.RawMessage{"c.x": json.RawMessage(`{"a":1}`)}})
	require.NoError(t, err)
	kv, err := n.js.KeyValue(bg, "presence-0")
	require.NoError(t, err)
	e, err := kv.Get(bg, memberKey(sk, "c.x", "u.1"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(e.Value()))
	names, ok := splitKey(e.Key(), 3)
	require.True(t, ok)
	assert.Equal(t, [3]string{sk, "c.x", "u.1"}, names)
	st, err := n.js.Stream(bg, "KV_presence-0")
	require.NoError(t, err)
	assert.Equal(t, jetstream.FileStorage, st.CachedInfo().Config.Storage)
}

// TestInspector: the node answers the console's questions (console.Inspector)
// as the engine does.
func TestInspector(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{Buckets: 2})
	for i, chs := range [][]string{{"Lobby", "hall"}, {"lobby"}, {"Lobby"}} {
		beat(t, n, fmt.Sprint("u", i), chs...)
	}
	require.NoError(t, n.AddChannelsToGroup("other", "g", "x"))
	sks, err := n.SubKeys()
	require.NoError(t, err)
	assert.Equal(t, []engine.SubKeyStats{{SubKey: "other"}, {SubKey: sk, Channels: 3, Members: 4, UUIDs: sks[1].UUIDs}}, sks)
	assert.GreaterOrEqual(t, sks[1].UUIDs, 3, "each uuid once per bucket it is in")

	top, err := n.TopChannels(engine.TopChannelsRequest{SubKey: sk, Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, engine.TopChannelsResult{Channels: []engine.ChannelCount{{Channel: "Lobby", Occupancy: 2}, {Channel: "hall", Occupancy: 1}}, Matched: 3, Members: 4}, top)
	top, err = n.TopChannels(engine.TopChannelsRequest{SubKey: sk, Match: "LOB", After: &top.Channels[0]})
	require.NoError(t, err)
	assert.Equal(t, []engine.ChannelCount{{Channel: "lobby", Occupancy: 1}}, top.Channels)
	_, err = n.TopChannels(engine.TopChannelsRequest{SubKey: sk, Limit: -1})
	require.ErrorIs(t, err, engine.ErrInvalidPaging)

	hn, err := n.HereNow(engine.HereNowRequest{SubKey: sk, Channels: []string{"hall"}, TimeLeft: true})
	require.NoError(t, err)
	require.Len(t, hn.Channels[0].Members, 1)
	left := hn.Channels[0].Members[0].TimeLeft
	assert.True(t, left > 0 && left <= time.Minute, "a minute's heartbeat: %v left", left)
}

// TestMaxMembersPerCluster: the member cap counts the whole cluster's
// members, as a node sees them, whichever node they joined through.
func TestMaxMembersPerCluster(t *testing.T) {
	srv := natstest.Start(t)
	a, b := newNode(t, srv.URL(), Config{MaxMembers: 2}), newNode(t, srv.URL(), Config{MaxMembers: 2})
	beat(t, a, "u1", "c")
	beat(t, a, "u2", "c")
	eventually(t, "b sees both", func() bool { return b.Stats().Members == 2 })
	_, err := b.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u3", Channels: []string{"c"}})
	require.ErrorIs(t, err, engine.ErrCapacity)
	assert.Contains(t, err.Error(), "2 members, at most 2")
	beat(t, b, "u1", "c") // a refresh needs no room
	_, err = a.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "u1", Channels: []string{"c"}})
	require.NoError(t, err)
	eventually(t, "b sees the leave", func() bool { return b.Stats().Members == 1 })
	beat(t, b, "u3", "c")
}
