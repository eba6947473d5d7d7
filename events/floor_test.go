package events

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedClock is a wall clock that stands still at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestRaiseFloor(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clockTT := now.UnixNano() / 100
	bus := NewBus(BusConfig{Now: fixedClock(now)})
	defer bus.Close()
	assert.Zero(t, bus.LastTimetoken(), "a new bus")

	before := &Event{SubKey: "a", Channel: "x"}
	bus.Publish(before)
	require.Equal(t, clockTT, before.Timetoken)
	assert.Equal(t, clockTT, bus.LastTimetoken())

	// A floor an hour ahead of the clock, as after a restart on a machine
	// whose clock is behind the one that saved the presence.
	floor := clockTT + int64(time.Hour/100)
	bus.RaiseFloor(floor)
	assert.Equal(t, floor, bus.LastTimetoken(), "the floor counts before anything is published above it")
	bus.RaiseFloor(floor - 5) // lower: changes nothing
	assert.Equal(t, floor, bus.LastTimetoken())

	for i, subKey := range []string{"a", "b", "a", "c", "b"} { // known and new sub keys
		ev := &Event{SubKey: subKey, Channel: "x"}
		bus.Publish(ev)
		assert.Greater(t, ev.Timetoken, floor, "event %d of %s", i, subKey)
	}
	assert.Equal(t, floor+2, bus.LastTimetoken(), "a and b each got floor+1 then floor+2, c floor+1")
}

func TestRaiseFloorBelowTheClock(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	bus := NewBus(BusConfig{Now: fixedClock(now)})
	defer bus.Close()
	bus.RaiseFloor(42)
	ev := &Event{SubKey: "a", Channel: "x"}
	bus.Publish(ev)
	assert.Equal(t, now.UnixNano()/100, ev.Timetoken, "a floor behind the clock leaves the clock's timetoken")
}

// TestRaiseFloorRacesNewSubKeys raises the floor while publishers create sub
// keys: every event published after RaiseFloor returned is above the floor,
// whether its sub key was created before, during or after the call.
func TestRaiseFloorRacesNewSubKeys(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	bus := NewBus(BusConfig{Now: fixedClock(now)})
	defer bus.Close()
	floor := now.UnixNano()/100 + 1_000_000

	const publishers, perPublisher = 4, 500
	var raised atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for i := range perPublisher {
				after := raised.Load()
				ev := &Event{SubKey: fmt.Sprintf("k%d-%d", p, i), Channel: "x"}
				bus.Publish(ev)
				if after && ev.Timetoken <= floor {
					errs <- fmt.Errorf("%s published after RaiseFloor got %d, floor %d", ev.SubKey, ev.Timetoken, floor)
					return
				}
			}
		})
	}
	bus.RaiseFloor(floor)
	raised.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Greater(t, bus.LastTimetoken(), floor-1)
}
