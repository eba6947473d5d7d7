package events

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a wall clock for BusConfig.Now that moves by step on every
// reading (zero: stands still; negative: goes backwards).
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// presentDay is a wall-clock time of today's order of magnitude.
var presentDay = time.Date(2025, time.March, 14, 15, 9, 26, 535897900, time.UTC)

func TestActionValid(t *testing.T) {
	tests := []struct {
		name   string
		action Action
		want   bool
	}{
		{"join", Join, true},
		{"leave", Leave, true},
		{"timeout", Timeout, true},
		{"state-change", StateChange, true},
		{"interval", Interval, true},
		{"empty", "", false},
		{"unknown", "kick", false},
		{"wrong case", "Join", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.action.Valid())
		})
	}
}

func TestTimetokenString(t *testing.T) {
	tests := []struct {
		name string
		tt   int64
		want string
	}{
		{"present day", 17419648665358979, "17419648665358979"},
		{"small is zero-padded", 42, "00000000000000042"},
		{"16 digits", 1000000000000000, "01000000000000000"},
		{"zero", 0, "00000000000000000"},
		{"18 digits", 100000000000000000, "100000000000000000"},
		{"negative", -5, "-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Event{Timetoken: tt.tt}.TimetokenString())
		})
	}
}

func TestTimetokenPresentDay(t *testing.T) {
	bus := NewBus(BusConfig{Now: func() time.Time { return presentDay }})
	defer bus.Close()

	ev := &Event{Action: Join, SubKey: "sk", Channel: "ch", UUID: "u"}
	bus.Publish(ev)
	assert.Equal(t, presentDay.UnixNano()/100, ev.Timetoken)
	assert.Len(t, ev.TimetokenString(), 17)
	assert.Equal(t, "17419649665358979", ev.TimetokenString())
	assert.True(t, ev.Time.Equal(presentDay))
}

func TestTimetokenDefaultClock(t *testing.T) {
	bus := NewBus(BusConfig{})
	defer bus.Close()

	before := time.Now().UnixNano() / 100
	ev := &Event{SubKey: "sk"}
	bus.Publish(ev)
	after := time.Now().UnixNano() / 100
	assert.GreaterOrEqual(t, ev.Timetoken, before)
	assert.LessOrEqual(t, ev.Timetoken, after)
	assert.Len(t, ev.TimetokenString(), 17)
}
