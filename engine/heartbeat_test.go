package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
)

func TestHeartbeatJoinsOnceThenRefreshes(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})

		res := mustBeat(t, e, hb("alice", "lobby", "game"))
		assert.Equal(t, []string{"lobby", "game"}, res.Joined)
		assert.Equal(t, DefaultTimeout, res.Timeout)

		res = mustBeat(t, e, hb("alice", "lobby", "game"))
		assert.Nil(t, res.Joined, "a present member only refreshes")

		res = mustBeat(t, e, hb("alice", "lobby", "chat"))
		assert.Equal(t, []string{"chat"}, res.Joined)

		synctest.Wait()
		assert.Equal(t, []brief{
			{events.Join, "lobby", "alice", 1, ""},
			{events.Join, "game", "alice", 1, ""},
			{events.Join, "chat", "alice", 1, ""},
		}, briefs(rec.take()))
		st := e.Stats()
		assert.Equal(t, int64(3), st.Members)
		assert.Equal(t, int64(3), st.Channels)
		assert.Equal(t, int64(1), st.UUIDs)
		assert.Equal(t, uint64(3), st.Heartbeats)
		assert.Equal(t, uint64(3), st.Joins)
		assert.Equal(t, uint64(3), st.EventsPublished)
	})
}

func TestHeartbeatEventFields(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{SubKey: sk, Channels: []string{"lobby"}})
		mustBeat(t, e, hb("alice", "lobby"))
		mustBeat(t, e, hb("bob", "lobby"))
		synctest.Wait()
		evs := rec.take()
		require.Len(t, evs, 2)
		assert.Equal(t, sk, evs[0].SubKey)
		assert.Equal(t, 2, evs[1].Occupancy)
		assert.Greater(t, evs[1].Timetoken, evs[0].Timetoken)
		assert.Len(t, evs[0].TimetokenString(), 17)
		assert.Equal(t, time.Now(), evs[0].Time)
	})
}

func TestHeartbeatTimeoutClamped(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		for _, tc := range []struct {
			in, want time.Duration
		}{
			{0, 300 * time.Second},
			{5 * time.Second, 20 * time.Second},
			{60 * time.Second, 60 * time.Second},
			{2 * time.Hour, time.Hour},
		} {
			r := hb("u", "c")
			r.Timeout = tc.in
			assert.Equal(t, tc.want, mustBeat(t, e, r).Timeout, "timeout %v", tc.in)
		}
	})
}

func TestHeartbeatGroupsExpandAtCallTime(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		require.NoError(t, e.AddChannelsToGroup(sk, "g", "a", "b"))
		r := HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"x"}, Groups: []string{"g"}}
		assert.Equal(t, []string{"x", "a", "b"}, mustBeat(t, e, r).Joined)

		require.NoError(t, e.AddChannelsToGroup(sk, "g", "c"))
		assert.Equal(t, []string{"c"}, mustBeat(t, e, r).Joined)
		assert.Equal(t, map[string][]string{"a": {"u"}, "b": {"u"}, "c": {"u"}, "x": {"u"}}, hereNow(t, e))

		// A group with no channels (or none at all) joins nothing and is no error.
		r = HeartbeatRequest{SubKey: sk, UUID: "u", Groups: []string{"nope"}}
		assert.Nil(t, mustBeat(t, e, r).Joined)
	})
}

func TestHeartbeatSubKeysAreSeparate(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, HeartbeatRequest{SubKey: "one", UUID: "u", Channels: []string{"c"}})
		res := mustBeat(t, e, HeartbeatRequest{SubKey: "two", UUID: "u", Channels: []string{"c"}})
		assert.Equal(t, []string{"c"}, res.Joined)
		n, err := e.Occupancy("three", "c")
		require.NoError(t, err)
		assert.Zero(t, n)
		where, err := e.WhereNow("two", "u")
		require.NoError(t, err)
		assert.Equal(t, []string{"c"}, where)
	})
}

func TestHeartbeatRejectsBadInputAndAppliesNothing(t *testing.T) {
	long := strings.Repeat("é", MaxNameRunes+1)
	cases := []struct {
		name string
		req  HeartbeatRequest
		err  error
		msg  string
	}{
		{"empty sub key", HeartbeatRequest{UUID: "u", Channels: []string{"c"}}, ErrInvalidSubKey, "is empty"},
		{"sub key with slash", HeartbeatRequest{SubKey: "a/b", UUID: "u", Channels: []string{"c"}}, ErrInvalidSubKey, `"a/b"`},
		{"empty uuid", hb("", "c"), ErrInvalidUUID, "is empty"},
		{"blank uuid", hb("  ", "c"), ErrInvalidUUID, "is blank"},
		{"long uuid", hb(long, "c"), ErrInvalidUUID, "longer than 92"},
		{"uuid not utf-8", hb("a\xffb", "c"), ErrInvalidUUID, "UTF-8"},
		{"uuid control", hb("a\nb", "c"), ErrInvalidUUID, "control"},
		{"no channels", hb("u"), ErrNoChannels, "no channels"},
		{"empty channel", hb("u", "ok", ""), ErrInvalidChannel, "is empty"},
		{"channel comma", hb("u", "a,b"), ErrInvalidChannel, `','`},
		{"channel colon", hb("u", "a:b"), ErrInvalidChannel, `':'`},
		{"channel star", hb("u", "a*"), ErrInvalidChannel, `'*'`},
		{"channel slash", hb("u", "a/b"), ErrInvalidChannel, `'/'`},
		{"channel backslash", hb("u", `a\b`), ErrInvalidChannel, `'\\'`},
		{"channel space", hb("u", "a b"), ErrInvalidChannel, "space"},
		{"channel NUL", hb("u", "a\x00b"), ErrInvalidChannel, "control"},
		{"channel long", hb("u", long), ErrInvalidChannel, "longer than 92"},
		{"channel reserved", hb("u", "room-pnpres"), ErrInvalidChannel, "reserved"},
		{"group reserved", HeartbeatRequest{SubKey: sk, UUID: "u", Groups: []string{"g-pnpres"}}, ErrInvalidGroup, "reserved"},
		{"too many channels", hb("u", make([]string, 1001)...), ErrTooManyChannels, "1001 channels"},
		{"negative timeout", HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, Timeout: -time.Second}, ErrInvalidTimeout, "negative"},
		{"state not object", HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, State: map[string]json.RawMessage{"c": raw(`[1]`)}}, ErrInvalidState, "not a JSON object"},
		{"state invalid json", HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, State: map[string]json.RawMessage{"c": raw(`{"a":}`)}}, ErrInvalidState, "not valid JSON"},
		{"state for other channel", HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, State: map[string]json.RawMessage{"d": raw(`{}`)}}, ErrInvalidState, `"d"`},
		{"state too large", HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, State: map[string]json.RawMessage{"c": raw(`{"a":"` + strings.Repeat("x", 32<<10) + `"}`)}}, ErrStateTooLarge, "at most 32768"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, Config{}, func(t *testing.T, e *Engine) {
				rec := record(t, e, events.Filter{})
				if tc.req.Channels != nil && len(tc.req.Channels) == 1001 {
					for i := range tc.req.Channels {
						tc.req.Channels[i] = "c"
					}
				}
				_, err := e.Heartbeat(ctx, tc.req)
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.err)
				assert.Contains(t, err.Error(), tc.msg)
				synctest.Wait()
				assert.Empty(t, rec.take())
				st := e.Stats()
				assert.Zero(t, st.Members)
				assert.Zero(t, st.Channels)
				assert.Zero(t, st.Heartbeats)
			})
		})
	}
}

// A present member's calls skip checking the names the engine holds; the
// rest of the call is checked as always, and a bad part still fails the
// whole call.
func TestCallsOfPresentMemberRejectBadInputAndApplyNothing(t *testing.T) {
	many := make([]string, 1001)
	for i := range many {
		many[i] = "a"
	}
	cases := []struct {
		name string
		call func(e *Engine) error
		err  error
		msg  string
	}{
		{"heartbeat, bad channel", func(e *Engine) error {
			_, err := e.Heartbeat(ctx, hb("alice", "a", "b,c"))
			return err
		}, ErrInvalidChannel, `"b,c"`},
		{"heartbeat, bad group", func(e *Engine) error {
			_, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, Groups: []string{"g:1"}})
			return err
		}, ErrInvalidGroup, `"g:1"`},
		{"heartbeat, negative timeout", func(e *Engine) error {
			_, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, Timeout: -time.Second})
			return err
		}, ErrInvalidTimeout, "negative"},
		{"heartbeat, too many channels", func(e *Engine) error {
			_, err := e.Heartbeat(ctx, hb("alice", many...))
			return err
		}, ErrTooManyChannels, "1001 channels"},
		{"heartbeat, bad state", func(e *Engine) error {
			_, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, State: map[string]json.RawMessage{"a": raw(`[1]`)}})
			return err
		}, ErrInvalidState, "not a JSON object"},
		{"leave, bad channel", func(e *Engine) error {
			_, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "alice", Channels: []string{"a", "b/c"}})
			return err
		}, ErrInvalidChannel, `"b/c"`},
		{"leave, bad group", func(e *Engine) error {
			_, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, Groups: []string{"g-pnpres"}})
			return err
		}, ErrInvalidGroup, "reserved"},
		{"leave, too many channels", func(e *Engine) error {
			_, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "alice", Channels: many})
			return err
		}, ErrTooManyChannels, "1001 channels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, Config{}, func(t *testing.T, e *Engine) {
				mustBeat(t, e, hb("alice", "a"))
				m := e.keyspace(sk, false).clients.GetKey(index.NewKey("alice")).find("a")
				deadline := m.deadline.Load()
				time.Sleep(time.Second) // a refresh now would move the deadline
				rec := record(t, e, events.Filter{})
				before := e.Stats()
				err := tc.call(e)
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.err)
				assert.Contains(t, err.Error(), tc.msg)
				synctest.Wait()
				assert.Empty(t, rec.take())
				assert.Equal(t, before, e.Stats())
				assert.Equal(t, deadline, m.deadline.Load(), "refreshed")
				assert.Equal(t, map[string][]string{"a": {"alice"}}, hereNow(t, e))
			})
		})
	}
}

func TestHeartbeatOfPresentMemberDoesNotAllocate(t *testing.T) {
	e := newEngine(t, Config{})
	mustBeat(t, e, hb("alice", "lobby"))
	bob := hb("bob", "a", "b", "c", "d", "e")
	bob.Timeout = time.Minute
	mustBeat(t, e, bob)
	require.NoError(t, e.AddChannelsToGroup(sk, "g", "a", "b"))
	uuid := "bob" // not a constant: a caller's string
	allocs := testing.AllocsPerRun(1000, func() {
		// Requests built the way callers build them: the slices must not escape.
		if _, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "alice", Channels: []string{"lobby"}}); err != nil {
			panic(err)
		}
		if _, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: []string{"a", "b", "c", "d", "e"}, Timeout: time.Minute}); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 6, e.wheel.Len(), "refreshes filed nothing in the wheel")
}

// A join of one channel allocates the uuid's record and nothing else, and a
// leave allocates nothing: their one-channel results are shared lists.
func TestJoinAndLeaveOfOneChannelAllocateOnlyTheUUID(t *testing.T) {
	e := newEngine(t, Config{})
	mustBeat(t, e, hb("resident", "lobby")) // the channel outlives the cycles
	uuid := "visitor"
	var joins, leaves float64
	for range 3 { // warm the channel's member list and the wheel's slot
		joins = testing.AllocsPerRun(1000, func() {
			if res, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: []string{"lobby"}}); err != nil || len(res.Joined) != 1 {
				panic(fmt.Sprint(res, err))
			}
			if res, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: uuid, Channels: []string{"lobby"}}); err != nil || len(res.Left) != 1 {
				panic(fmt.Sprint(res, err))
			}
		})
		leaves = testing.AllocsPerRun(1000, func() {
			if _, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "nobody", Channels: []string{"lobby"}}); err != nil {
				panic(err)
			}
		})
	}
	assert.Equal(t, 1.0, joins, "a join and a leave: the uuid's record only")
	assert.Zero(t, leaves)
}

// The list a one-channel call returns is shared, but a call that changes
// several channels gets a list of its own: it never writes into a shared one.
func TestSharedResultListsStayIntact(t *testing.T) {
	e := newEngine(t, Config{})
	one := mustBeat(t, e, hb("a", "x"))
	both := mustBeat(t, e, hb("b", "x", "y"))
	again := mustBeat(t, e, hb("c", "x"))
	assert.Equal(t, []string{"x"}, one.Joined)
	assert.Equal(t, []string{"x", "y"}, both.Joined)
	assert.Equal(t, []string{"x"}, again.Joined)
	assert.Equal(t, 1, cap(one.Joined), "no room for an append to write into")

	left, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "b", Channels: []string{"x", "y"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"x", "y"}, left.Left)
	left, err = e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "a", Channels: []string{"x"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, left.Left)
	assert.Equal(t, []string{"x"}, one.Joined)
}

func TestHeartbeatRefreshDoesNotTouchTheWheel(t *testing.T) {
	e := newEngine(t, Config{})
	mustBeat(t, e, hb("alice", "lobby"))
	before := e.wheel.Len()
	for range 100 {
		mustBeat(t, e, hb("alice", "lobby"))
	}
	assert.Equal(t, before, e.wheel.Len())
}

func TestCapacity(t *testing.T) {
	inBubble(t, Config{MaxMembers: 3}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("a", "x", "y"))
		rec := record(t, e, events.Filter{})
		_, err := e.Heartbeat(ctx, hb("b", "x", "y"))
		require.ErrorIs(t, err, ErrCapacity)
		synctest.Wait()
		assert.Empty(t, rec.take(), "a rejected heartbeat publishes nothing")
		assert.Equal(t, map[string][]string{"x": {"a"}, "y": {"a"}}, hereNow(t, e), "and joins nowhere")

		// A present member still refreshes, also with state, at capacity.
		r := hb("a", "x", "y")
		r.State = map[string]json.RawMessage{"x": raw(`{"k":1}`)}
		mustBeat(t, e, r)
		assert.Equal(t, []string{"z"}, mustBeat(t, e, hb("b", "z")).Joined)

		// Room comes back when members leave.
		_, err = e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "a", Channels: []string{"x"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"x"}, mustBeat(t, e, hb("b", "x")).Joined)
		_, err = e.Heartbeat(ctx, hb("c", "x"))
		assert.ErrorIs(t, err, ErrCapacity)
	})
}

func TestCloseIsIdempotentAndEndsCalls(t *testing.T) {
	e, err := New(Config{})
	require.NoError(t, err)
	sub, err := e.Subscribe(events.Filter{}, events.Options{})
	require.NoError(t, err)
	mustBeat(t, e, hb("u", "c"))
	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	_, open := <-sub.Events()
	for open { // drain the join, then the channel is closed
		_, open = <-sub.Events()
	}

	_, err = e.Heartbeat(ctx, hb("u", "c"))
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}})
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}, State: raw(`{}`)})
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.GetState(GetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"c"}})
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.HereNow(HereNowRequest{SubKey: sk})
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.WhereNow(sk, "u")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.Occupancy(sk, "c")
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, e.AddChannelsToGroup(sk, "g", "c"), ErrClosed)
	_, err = e.Groups(sk)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = e.Subscribe(events.Filter{}, events.Options{})
	assert.ErrorIs(t, err, ErrClosed)
}

func TestCloseWhileCallsRun(t *testing.T) {
	e, err := New(Config{Tick: time.Millisecond, MinTimeout: time.Second})
	require.NoError(t, err)
	_, err = e.Subscribe(events.Filter{}, events.Options{Buffer: 1, Policy: events.Block})
	require.NoError(t, err) // never read: joins wait on it until Close
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				r := hb(string(rune('a'+w)), "c"+string(rune('0'+i%10)))
				if _, err := e.Heartbeat(ctx, r); err != nil {
					if !errors.Is(err, ErrClosed) {
						errs <- err
						return
					}
					errs <- nil
					return
				}
			}
		}()
	}
	for e.Stats().Heartbeats < 8 { // let the workers get going
		runtime.Gosched()
	}
	done := make(chan struct{})
	go func() { _ = e.Close(); close(done) }()
	_ = e.Close()
	<-done
	for range 8 {
		assert.NoError(t, <-errs)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{MinTimeout: time.Millisecond}, "MinTimeout"},
		{Config{MinTimeout: time.Minute, MaxTimeout: time.Second}, "MaxTimeout"},
		{Config{Tick: time.Microsecond}, "Tick"},
		{Config{Tick: time.Minute}, "Tick"},
		{Config{MaxMembers: -1}, "MaxMembers"},
		{Config{MaxStateBytes: -1}, "MaxStateBytes"},
		{Config{Interval: -time.Second}, "Interval"},
		{Config{DefaultTimeout: -time.Second}, "DefaultTimeout"},
	} {
		_, err := New(tc.cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, tc.field)
		assert.ErrorContains(t, err, tc.field)
	}
}
