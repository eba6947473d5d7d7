package engine

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
)

// A subscriber that does not read loses the oldest events, counted exactly,
// with the gap marked on the next event it gets; heartbeats never wait for it.
func TestSlowSubscriberDropsOldest(t *testing.T) {
	inBubble(t, Config{AnnounceMax: -1}, func(t *testing.T, e *Engine) {
		sub, err := e.Subscribe(events.Filter{}, events.Options{Buffer: 10, Policy: events.DropOldest})
		require.NoError(t, err)
		defer sub.Close()
		const n = 100
		// Five events fill the Events channel (half the buffer), the sixth
		// is the subscription's to hold while the channel is full, and the
		// five behind them are the newest.
		const direct = 5
		for i := range direct + 1 {
			mustBeat(t, e, hb(uuidN(i), "room"))
		}
		synctest.Wait()
		for i := direct + 1; i < n; i++ {
			mustBeat(t, e, hb(uuidN(i), "room"))
		}
		synctest.Wait()
		assert.Equal(t, uint64(n-10-1), sub.Dropped(), "all but the buffer and the one in hand")
		assert.Equal(t, sub.Dropped(), e.Stats().EventsDropped)

		for i := range direct + 1 {
			ev := <-sub.Events()
			assert.Zero(t, ev.Dropped)
			assert.Equal(t, i+1, ev.Occupancy, "the events taken before the buffer filled")
		}
		gap := <-sub.Events()
		assert.Equal(t, sub.Dropped(), gap.Dropped, "the gap is marked on the next event")
		assert.Equal(t, direct+1+int(gap.Dropped)+1, gap.Occupancy, "and it says how many came between")
		for i := 1; i < 10-direct; i++ {
			ev := <-sub.Events()
			assert.Zero(t, ev.Dropped)
			assert.Equal(t, gap.Occupancy+i, ev.Occupancy)
		}
		select {
		case ev := <-sub.Events():
			t.Fatalf("an event past the buffer: %+v", ev)
		default:
		}
	})
}

// A Block subscriber holds up the operations that emit events, not refreshes,
// and lets them go as it catches up.
func TestBlockingSubscriberPushesBack(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("present", "room"))
		sub, err := e.Subscribe(events.Filter{}, events.Options{Buffer: 2, Policy: events.Block})
		require.NoError(t, err)
		defer sub.Close()
		for i := range 4 { // the pump holds one, the buffer two, one over: pressure
			mustBeat(t, e, hb(uuidN(i), "room"))
		}
		synctest.Wait()

		done := make(chan error, 1)
		go func() {
			_, err := e.Heartbeat(ctx, hb("late", "room"))
			done <- err
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("a join went ahead of a lagging Block subscriber")
		default:
		}
		assert.Nil(t, mustBeat(t, e, hb("present", "room")).Joined, "a refresh does not wait")

		// A caller's context bounds the wait.
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err = e.Heartbeat(cctx, hb("impatient", "room"))
		assert.ErrorIs(t, err, context.DeadlineExceeded)

		for range 4 {
			<-sub.Events()
		}
		require.NoError(t, <-done)
		assert.Equal(t, uint64(0), sub.Dropped())
	})
}

// Events stamp the wall clock, but deadlines run on the monotonic one: a step
// of the wall clock, forward or back, expires nobody early or late, and
// timetokens keep increasing.
func TestWallClockStepsDoNotMoveDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		step := time.Duration(0)
		now := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return time.Now().Add(step)
		}
		e := newEngine(t, Config{Now: now})
		rec := record(t, e, events.Filter{})
		all := record(t, e, events.Filter{})
		r := hb("alice", "room")
		r.Timeout = 30 * time.Second
		mustBeat(t, e, r)
		start := time.Now()

		for _, s := range []time.Duration{time.Hour, -3 * time.Hour, 10 * time.Minute} {
			time.Sleep(5 * time.Second)
			mu.Lock()
			step += s
			mu.Unlock()
			mustBeat(t, e, hb("bob"+s.String(), "room"))
		}
		synctest.Wait()
		_, ev := waitTimeout(t, rec, "alice", time.Minute)
		at := time.Now()
		assert.False(t, at.Before(start.Add(30*time.Second)))
		assert.LessOrEqual(t, at.Sub(start), 30*time.Second+DefaultTick+time.Millisecond)
		assert.Equal(t, now(), ev.Time, "events carry the stepped wall clock")

		evs := all.take()
		require.Len(t, evs, 5, "four joins and a timeout")
		for i := 1; i < len(evs); i++ {
			assert.Greater(t, evs[i].Timetoken, evs[i-1].Timetoken, "timetokens increase across steps")
		}
	})
}
