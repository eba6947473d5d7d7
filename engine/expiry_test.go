package engine

import (
	"encoding/json"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
)

// timedOut waits (in virtual time) until a timeout event for uuid arrives and
// returns when it came.
func waitTimeout(t *testing.T, rec *recorder, uuid string, limit time.Duration) (time.Time, events.Event) {
	t.Helper()
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		synctest.Wait()
		for _, ev := range rec.take() {
			if ev.Action == events.Timeout && ev.UUID == uuid {
				return time.Now(), ev
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no timeout event for %q within %v", uuid, limit)
	return time.Time{}, events.Event{}
}

func TestTimeoutWithinOneTickOfTheDeadline(t *testing.T) {
	for _, tick := range []time.Duration{time.Second, 250 * time.Millisecond, 7 * time.Millisecond} {
		t.Run(tick.String(), func(t *testing.T) {
			inBubble(t, Config{Tick: tick}, func(t *testing.T, e *Engine) {
				rec := record(t, e, events.Filter{})
				time.Sleep(tick / 3) // deadlines off the slot boundaries
				r := hb("alice", "lobby")
				r.Timeout = 30 * time.Second
				mustBeat(t, e, r)
				deadline := time.Now().Add(30 * time.Second)
				synctest.Wait()
				rec.take()

				at, ev := waitTimeout(t, rec, "alice", time.Minute)
				assert.False(t, at.Before(deadline), "timed out %v before the deadline", deadline.Sub(at))
				assert.LessOrEqual(t, at.Sub(deadline), tick+time.Millisecond, "late by more than a tick")
				assert.Equal(t, "lobby", ev.Channel)
				assert.Zero(t, ev.Occupancy)
				n, err := e.Occupancy(sk, "lobby")
				require.NoError(t, err)
				assert.Zero(t, n)
				assert.Equal(t, uint64(1), e.Stats().Timeouts)
			})
		})
	}
}

func TestHeartbeatBeforeDeadlinePreventsTimeout(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		r := hb("alice", "lobby")
		r.Timeout = 20 * time.Second
		mustBeat(t, e, r)
		for range 10 { // 10 heartbeats, each 19 s apart: 190 s, far past one timeout
			time.Sleep(19 * time.Second)
			assert.Nil(t, mustBeat(t, e, r).Joined, "no new join")
		}
		synctest.Wait()
		assert.Equal(t, []brief{{events.Join, "lobby", "alice", 1, ""}}, briefs(rec.take()), "no timeout, no second join")

		// Then silence: the timeout comes 20 s after the last heartbeat.
		last := time.Now()
		at, _ := waitTimeout(t, rec, "alice", time.Minute)
		assert.False(t, at.Before(last.Add(20*time.Second)))
		assert.LessOrEqual(t, at.Sub(last.Add(20*time.Second)), DefaultTick+time.Millisecond)
	})
}

func TestShorterTimeoutMovesTheDeadlineEarlier(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		r := hb("alice", "lobby")
		r.Timeout = time.Hour
		mustBeat(t, e, r)
		r.Timeout = 20 * time.Second
		mustBeat(t, e, r)
		start := time.Now()
		at, _ := waitTimeout(t, rec, "alice", time.Minute)
		assert.False(t, at.Before(start.Add(20*time.Second)))
		assert.LessOrEqual(t, at.Sub(start), 20*time.Second+DefaultTick+time.Millisecond)
	})
}

func TestManyMembersTimeOutTogether(t *testing.T) {
	inBubble(t, Config{AnnounceMax: -1}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		const n = 5000
		for i := range n {
			r := hb(uuidN(i), "room"+uuidN(i%7))
			r.Timeout = 20 * time.Second
			mustBeat(t, e, r)
		}
		deadline := time.Now().Add(20 * time.Second)
		time.Sleep(20*time.Second + DefaultTick + 2*time.Millisecond)
		synctest.Wait()
		timeouts := 0
		for _, ev := range rec.take() {
			if ev.Action == events.Timeout {
				timeouts++
				assert.False(t, ev.Time.Before(deadline))
			}
		}
		assert.Equal(t, n, timeouts)
		st := e.Stats()
		assert.Zero(t, st.Members)
		assert.Zero(t, st.Channels)
		assert.Zero(t, st.UUIDs)
		assert.Zero(t, e.wheel.Len())
	})
}

func TestStateDiesWithMembership(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		r := hb("alice", "lobby")
		r.Timeout = 20 * time.Second
		r.State = map[string]json.RawMessage{"lobby": raw(`{"mood": "ok"}`)}
		mustBeat(t, e, r)
		_, ev := waitTimeout(t, rec, "alice", time.Minute)
		assert.JSONEq(t, `{"mood":"ok"}`, string(ev.State), "the timeout carries the last state")

		r.State = nil
		mustBeat(t, e, r)
		got, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "alice", Channels: []string{"lobby"}})
		require.NoError(t, err)
		assert.Equal(t, map[string]json.RawMessage{"lobby": raw(`{}`)}, got, "a rejoin starts without state")
	})
}

func uuidN(i int) string { return "u" + strconv.Itoa(i) }
