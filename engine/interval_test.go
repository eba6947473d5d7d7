package engine

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
)

func TestIntervalModeAboveAnnounceMax(t *testing.T) {
	cfg := Config{AnnounceMax: 2, Interval: 10 * time.Second, IntervalDeltas: true}
	inBubble(t, cfg, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		mustBeat(t, e, hb("a", "room"))
		mustBeat(t, e, hb("b", "room"))
		mustBeat(t, e, hb("c", "room")) // occupancy 3 > 2: interval mode
		mustBeat(t, e, hb("d", "room"))
		leave(t, e, "d", "room")
		synctest.Wait()
		assert.Equal(t, []brief{
			{events.Join, "room", "a", 1, ""},
			{events.Join, "room", "b", 2, ""},
		}, briefs(rec.take()), "joins above AnnounceMax are held for the interval event")

		time.Sleep(10 * time.Second)
		synctest.Wait()
		evs := rec.take()
		require.Len(t, evs, 1)
		assert.Equal(t, events.Interval, evs[0].Action)
		assert.Equal(t, 3, evs[0].Occupancy)
		assert.Equal(t, []string{"c", "d"}, evs[0].Joined)
		assert.Equal(t, []string{"d"}, evs[0].Left)
		assert.Empty(t, evs[0].UUID)

		// Nothing changed: the next interval still reports the occupancy.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		evs = rec.take()
		require.Len(t, evs, 1)
		assert.Equal(t, 3, evs[0].Occupancy)
		assert.Nil(t, evs[0].Joined)

		// Back to AnnounceMax: the pending deltas go out at once, then announce mode.
		leave(t, e, "c", "room")
		leave(t, e, "b", "room")
		synctest.Wait()
		evs = rec.take()
		require.Len(t, evs, 2)
		assert.Equal(t, events.Interval, evs[0].Action)
		assert.Equal(t, 2, evs[0].Occupancy)
		assert.Equal(t, []string{"c"}, evs[0].Left)
		assert.Equal(t, brief{events.Leave, "room", "b", 1, ""}, briefs(evs[1:])[0])

		time.Sleep(30 * time.Second)
		synctest.Wait()
		assert.Empty(t, rec.take(), "no interval events in announce mode")
	})
}

func TestIntervalStateChangesStillAnnounced(t *testing.T) {
	inBubble(t, Config{AnnounceMax: 1}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("a", "room"))
		mustBeat(t, e, hb("b", "room"))
		rec := record(t, e, events.Filter{})
		_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "b", Channels: []string{"room"}, State: raw(`{"s":1}`)})
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, []brief{{events.StateChange, "room", "b", 2, `{"s":1}`}}, briefs(rec.take()))
		time.Sleep(DefaultInterval)
		synctest.Wait()
		evs := rec.take()
		require.Len(t, evs, 1)
		assert.Nil(t, evs[0].Joined, "deltas are off by default")
	})
}

func TestIntervalHereNowRefreshPastMaxDeltaBytes(t *testing.T) {
	cfg := Config{AnnounceMax: 1, IntervalDeltas: true}
	inBubble(t, cfg, func(t *testing.T, e *Engine) {
		rec := record(t, e, events.Filter{})
		n := events.MaxDeltaBytes/80 + 10
		for i := range n {
			mustBeat(t, e, hb(strings.Repeat("x", 80)+uuidN(i), "room"))
		}
		time.Sleep(DefaultInterval)
		synctest.Wait()
		var iv []events.Event
		for _, ev := range rec.take() {
			if ev.Action == events.Interval {
				iv = append(iv, ev)
			}
		}
		require.Len(t, iv, 1)
		assert.True(t, iv[0].HereNowRefresh)
		assert.Nil(t, iv[0].Joined)
		assert.Equal(t, n, iv[0].Occupancy)
	})
}
