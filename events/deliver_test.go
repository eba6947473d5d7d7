package events

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeliverKeepsTimetokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{t: presentDay}
		bus := NewBus(BusConfig{Now: clock.Now})
		defer bus.Close()
		all, err := bus.Subscribe(Filter{}, Options{})
		require.NoError(t, err)
		ch, err := bus.Subscribe(Filter{SubKey: "a", Channels: []string{"x"}}, Options{})
		require.NoError(t, err)

		at := presentDay.Add(-time.Minute) // decided elsewhere, behind this clock
		ev := &Event{Action: Join, SubKey: "a", Channel: "x", UUID: "u", Occupancy: 1, Time: at, Timetoken: Timetoken(at)}
		require.NoError(t, bus.Deliver(ev))
		assert.Equal(t, Timetoken(at), ev.Timetoken, "Deliver does not restamp")

		for _, s := range []*Subscription{all, ch} {
			evs, _ := drain(s)
			require.Len(t, evs, 1)
			assert.Equal(t, Timetoken(at), evs[0].Timetoken)
			assert.True(t, evs[0].Time.Equal(at))
			assert.Equal(t, "u", evs[0].UUID)
		}
		assert.Equal(t, uint64(1), bus.Stats().Published)
	})
}

func TestDeliverRefusesOutOfOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{Now: (&fakeClock{t: presentDay}).Now})
		defer bus.Close()
		s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{})
		require.NoError(t, err)

		require.NoError(t, bus.Deliver(&Event{SubKey: "a", Channel: "x", Timetoken: 100}))
		for _, tt := range []int64{100, 99, 0, -1} {
			err := bus.Deliver(&Event{SubKey: "a", Channel: "y", Timetoken: tt})
			require.ErrorIs(t, err, ErrOutOfOrder, "timetoken %d", tt)
			assert.Contains(t, err.Error(), fmt.Sprintf("timetoken %d of sub key \"a\" is not above 100", tt))
		}
		require.NoError(t, bus.Deliver(&Event{SubKey: "b", Channel: "x", Timetoken: 50}), "sub keys are independent")
		require.NoError(t, bus.Deliver(&Event{SubKey: "a", Channel: "z", Timetoken: 101}))

		evs, _ := drain(s)
		require.Len(t, evs, 2, "refused events are not delivered")
		assert.Equal(t, []int64{100, 101}, []int64{evs[0].Timetoken, evs[1].Timetoken})
		assert.Equal(t, uint64(3), bus.Stats().Published, "refused events are not counted")
	})
}

func TestPublishAfterDeliverStaysAbove(t *testing.T) {
	clock := &fakeClock{t: presentDay}
	bus := NewBus(BusConfig{Now: clock.Now})
	defer bus.Close()

	ahead := Timetoken(presentDay.Add(time.Hour))
	require.NoError(t, bus.Deliver(&Event{SubKey: "a", Timetoken: ahead}))
	ev := &Event{SubKey: "a"}
	bus.Publish(ev)
	assert.Equal(t, ahead+1, ev.Timetoken, "Publish keeps the sub key's timetokens increasing")
	require.ErrorIs(t, bus.Deliver(&Event{SubKey: "a", Timetoken: ahead + 1}), ErrOutOfOrder)
}

func TestDeliverAfterClose(t *testing.T) {
	bus := NewBus(BusConfig{})
	bus.Close()
	require.ErrorIs(t, bus.Deliver(&Event{SubKey: "a", Timetoken: 1}), ErrClosed)
}

func TestAppendTimetoken(t *testing.T) {
	tests := []struct {
		name string
		tt   int64
		want string
	}{
		{"present day", 17419648665358979, "17419648665358979"},
		{"small is zero-padded", 42, "00000000000000042"},
		{"zero", 0, "00000000000000000"},
		{"18 digits", 100000000000000000, "100000000000000000"},
		{"negative", -5, "-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, "x"+tt.want, string(AppendTimetoken([]byte("x"), tt.tt)))
		})
	}
	assert.Equal(t, presentDay.UnixNano()/100, Timetoken(presentDay))
}
