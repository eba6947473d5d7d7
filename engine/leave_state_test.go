package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
)

func leave(t *testing.T, e *Engine, uuid string, channels ...string) []string {
	t.Helper()
	res, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: uuid, Channels: channels})
	require.NoError(t, err)
	return res.Left
}

func TestLeave(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("alice", "a", "b"))
		mustBeat(t, e, hb("bob", "a"))
		rec := record(t, e, events.Filter{})

		assert.Equal(t, []string{"a"}, leave(t, e, "alice", "a", "nowhere"))
		assert.Nil(t, leave(t, e, "alice", "a"), "leaving twice is a no-op")
		assert.Nil(t, leave(t, e, "carol", "a"), "leaving as a stranger is a no-op")
		synctest.Wait()
		assert.Equal(t, []brief{{events.Leave, "a", "alice", 1, ""}}, briefs(rec.take()))

		assert.Equal(t, map[string][]string{"a": {"bob"}, "b": {"alice"}}, hereNow(t, e))
		where, err := e.WhereNow(sk, "alice")
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, where)

		assert.Equal(t, []string{"b"}, leave(t, e, "alice", "b"))
		st := e.Stats()
		assert.Equal(t, int64(1), st.Members)
		assert.Equal(t, int64(1), st.Channels, "an empty channel is dropped")
		assert.Equal(t, int64(1), st.UUIDs, "a uuid on no channel is dropped")
		assert.Equal(t, uint64(2), st.Leaves)
		assert.Equal(t, uint64(5), st.EventsPublished, "counted with or without subscribers")
		assert.Equal(t, 3, e.wheel.Len(), "leaves do not touch the wheel; expiry skips them")
	})
}

func TestLeaveGroup(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		require.NoError(t, e.AddChannelsToGroup(sk, "g", "a", "b"))
		mustBeat(t, e, HeartbeatRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}, Channels: []string{"c"}})
		res, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, res.Left)
		assert.Equal(t, map[string][]string{"c": {"u"}}, hereNow(t, e))
	})
}

func TestJoinWithStateThenStateChanges(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		r := hb("alice", "a", "b")
		r.State = map[string]json.RawMessage{"a": raw(`{ "mood" : "ok" }`)}
		mustBeat(t, e, r)
		mustBeat(t, e, r) // same state: nothing
		r.State = map[string]json.RawMessage{"a": raw(`{"mood":"busy"}`)}
		mustBeat(t, e, r)

		_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"a", "b"}, State: raw(`{"x":1}`)})
		require.NoError(t, err)
		_, err = e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"b"}, State: raw(`{}`)})
		require.NoError(t, err)

		synctest.Wait()
		assert.Equal(t, []brief{
			{events.Join, "a", "alice", 1, `{"mood":"ok"}`},
			{events.StateChange, "a", "alice", 1, `{"mood":"ok"}`},
			{events.Join, "b", "alice", 1, ""},
			{events.StateChange, "a", "alice", 1, `{"mood":"busy"}`},
			{events.StateChange, "a", "alice", 1, `{"x":1}`},
			{events.StateChange, "b", "alice", 1, `{"x":1}`},
			{events.StateChange, "b", "alice", 1, ""},
		}, briefs(rec.take()))

		got, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"a", "b", "c"}})
		require.NoError(t, err)
		assert.Equal(t, map[string]json.RawMessage{"a": raw(`{"x":1}`), "b": raw(`{}`)}, got)

		leave(t, e, "alice", "a")
		synctest.Wait()
		assert.Equal(t, []brief{{events.Leave, "a", "alice", 0, `{"x":1}`}}, briefs(rec.take()), "leave carries the last state")
	})
}

func TestGroupStateAppliesToItsChannels(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		require.NoError(t, e.AddChannelsToGroup(sk, "g", "a", "b"))
		r := HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"b"}, Groups: []string{"g"}, State: map[string]json.RawMessage{
			"g": raw(`{"from":"group"}`),
			"b": raw(`{"from":"channel"}`),
		}}
		mustBeat(t, e, r)
		got, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}})
		require.NoError(t, err)
		assert.Equal(t, map[string]json.RawMessage{"a": raw(`{"from":"group"}`), "b": raw(`{"from":"channel"}`)}, got)
	})
}

func TestSetStateNeedsPresenceEverywhere(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("alice", "a"))
		rec := record(t, e, events.Filter{})
		_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"a", "b", "c"}, State: raw(`{"x":1}`)})
		require.ErrorIs(t, err, ErrNotPresent)
		var np *NotPresentError
		require.ErrorAs(t, err, &np)
		assert.Equal(t, &NotPresentError{UUID: "alice", Channels: []string{"b", "c"}}, np)
		assert.Equal(t, `presence: uuid not present: "alice" is not on b, c`, err.Error())
		got, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}})
		require.NoError(t, err)
		assert.Equal(t, raw(`{}`), got["a"], "nothing applied")
		synctest.Wait()
		assert.Empty(t, rec.take())
	})
}

func TestSetStateRejectsBadState(t *testing.T) {
	inBubble(t, Config{MaxStateBytes: 64}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("alice", "a"))
		for _, tc := range []struct {
			state string
			err   error
		}{
			{``, ErrInvalidState},
			{`"str"`, ErrInvalidState},
			{`null`, ErrInvalidState},
			{`{"a":1`, ErrInvalidState},
			{`{"a":1} {}`, ErrInvalidState},
			{"{\"a\":\"\xff\"}", ErrInvalidState},
			{`{"a":"` + strings.Repeat("x", 64) + `"}`, ErrStateTooLarge},
		} {
			_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, State: raw(tc.state)})
			assert.ErrorIs(t, err, tc.err, tc.state)
		}
		st, err := CompactState(raw(" {\n \"a\" : [1, 2] } "), 64)
		require.NoError(t, err)
		assert.Equal(t, `{"a":[1,2]}`, string(st))
	})
}

// removeWithoutUnlink ends uuid's membership on channel as Leave does under
// the channel's lock, and stops there: the member is removed but still in its
// client's lists, the window between a leave's unlock and its unlink.
func removeWithoutUnlink(t *testing.T, e *Engine, uuid, channel string) *member {
	t.Helper()
	ks := e.keyspace(sk, false)
	require.NotNil(t, ks)
	c := ks.clients.Get(uuid)
	require.NotNil(t, c)
	m := c.find(channel)
	require.NotNil(t, m)
	m.ch.lock()
	require.NotEqual(t, int64(removed), m.deadline.Swap(removed))
	tl := counts{cLeaves: 1}
	e.removeLocked(&tl, m.ch, m, events.Leave)
	require.Equal(t, int64(1), tl[cEvents])
	e.count.add(nil, &tl)
	m.ch.mu.Unlock()
	return m
}

func TestRemovedMemberIsGoneBeforeItIsUnlinked(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("alice", "a", "b"))
		m := removeWithoutUnlink(t, e, "alice", "a")

		where, err := e.WhereNow(sk, "alice")
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, where)
		assert.Nil(t, leave(t, e, "alice", "a"), "a removed member cannot leave again")
		st, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"a", "b"}})
		require.NoError(t, err)
		assert.Equal(t, map[string]json.RawMessage{"b": json.RawMessage("{}")}, st)

		// A heartbeat in the window joins anew, beside the removed member.
		assert.Equal(t, []string{"a"}, mustBeat(t, e, hb("alice", "a")).Joined)
		c := e.keyspace(sk, false).clients.Get("alice")
		again := c.find("a")
		require.NotNil(t, again)
		assert.NotSame(t, m, again)

		e.retire(m, index.NewKey("alice"))
		assert.Same(t, again, c.find("a"), "unlinking the old member keeps the new one")
		assert.Nil(t, mustBeat(t, e, hb("alice", "a", "b")).Joined, "a refresh, not a join")
		assert.Equal(t, map[string][]string{"a": {"alice"}, "b": {"alice"}}, hereNow(t, e))
		assert.Equal(t, int64(2), e.Stats().Members)
	})
}

func TestLastMemberUnlinkedDropsTheClient(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("alice", "a"))
		m := removeWithoutUnlink(t, e, "alice", "a")
		ks := e.keyspace(sk, false)
		assert.Equal(t, 1, ks.clients.Len(), "kept until unlinked")
		where, err := e.WhereNow(sk, "alice")
		require.NoError(t, err)
		assert.Empty(t, where)

		e.retire(m, index.NewKey("alice"))
		assert.Zero(t, ks.clients.Len())
		assert.Equal(t, []string{"a"}, mustBeat(t, e, hb("alice", "a")).Joined)
	})
}

func TestChannelHotFieldsShareOneLine(t *testing.T) {
	// The allocator aligns 128-byte objects to 128 bytes; the fields written
	// by every join and leave must sit in the first 64.
	var ch channel
	assert.Equal(t, uintptr(128), unsafe.Sizeof(ch))
	for name, end := range map[string]uintptr{
		"mu":        unsafe.Offsetof(ch.mu) + unsafe.Sizeof(ch.mu),
		"list":      unsafe.Offsetof(ch.list) + unsafe.Sizeof(ch.list),
		"low":       unsafe.Offsetof(ch.low) + unsafe.Sizeof(ch.low),
		"occupancy": unsafe.Offsetof(ch.occupancy) + unsafe.Sizeof(ch.occupancy),
	} {
		assert.LessOrEqual(t, end, uintptr(64), name)
	}
}

// A client leaves the index once none of its members is live, even while
// another removed member waits to be unlinked; that unlinking then changes
// nothing, also when a new client holds the uuid by then.
func TestUnlinkAfterTheClientLeftChangesNothing(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("alice", "a", "b"))
		first := removeWithoutUnlink(t, e, "alice", "a")
		second := removeWithoutUnlink(t, e, "alice", "b")
		ks := e.keyspace(sk, false)
		e.retire(second, index.NewKey("alice"))
		assert.Zero(t, ks.clients.Len(), "no live member: the client is gone")

		assert.Equal(t, []string{"a"}, mustBeat(t, e, hb("alice", "a")).Joined)
		fresh := ks.clients.Get("alice")
		require.NotNil(t, fresh)
		require.NotSame(t, first.c, fresh)
		e.retire(first, index.NewKey("alice"))
		assert.Same(t, fresh, ks.clients.Get("alice"))
		assert.Equal(t, map[string][]string{"a": {"alice"}}, hereNow(t, e))
		assert.Equal(t, int64(1), e.Stats().Members)
	})
}

// A client holds its uuid's length and bytes in its own allocation, for
// every valid length; a 36-byte uuid makes an object of 80 bytes.
func TestClientHoldsItsUUID(t *testing.T) {
	for n := 0; n <= MaxNameRunes*4; n++ {
		uuid := strings.Repeat("x", n)
		c := newClient(uuid)
		require.Equal(t, uuid, c.id(), "length %d", n)
	}
	assert.Equal(t, uintptr(40), unsafe.Sizeof(client{}))
	assert.Equal(t, uintptr(80), unsafe.Sizeof(struct {
		c client
		b [40]byte
	}{}), "the object of a 36-byte uuid")
	assert.Panics(t, func() { newClient(strings.Repeat("x", maxTail-1)) })
}

// A channel fills the allocator's 128-byte size class, which it aligns to
// 128 bytes, so that the fields a join or a leave writes share one line.
func TestChannelIsTwoAlignedLines(t *testing.T) {
	assert.Equal(t, uintptr(128), unsafe.Sizeof(channel{}))
	chans := make([]*channel, 100) // on the heap, as the engine's are
	for i := range chans {
		chans[i] = newChannel(nil, "c")
		assert.Zero(t, uintptr(unsafe.Pointer(chans[i]))%128)
	}
}
