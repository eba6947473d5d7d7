package events

import (
	"encoding/json"
	"time"
)

// Action is the kind of a presence event. Its value is the "action" field of the
// event's JSON payload.
type Action string

// The presence actions.
const (
	// Join: a uuid became present on a channel.
	Join Action = "join"
	// Leave: a uuid left a channel explicitly.
	Leave Action = "leave"
	// Timeout: a uuid's presence expired without a heartbeat.
	Timeout Action = "timeout"
	// StateChange: a present uuid's state on a channel changed.
	StateChange Action = "state-change"
	// Interval: a periodic summary of a channel in interval mode.
	Interval Action = "interval"
)

// Valid reports whether a is one of the presence actions.
func (a Action) Valid() bool {
	switch a {
	case Join, Leave, Timeout, StateChange, Interval:
		return true
	}
	return false
}

// Event is one presence event.
//
// An Event is a plain value. The bus hands every subscription its own copy, but
// the copies share the backing arrays of State, Joined, Left and TimedOut:
// publishers must not modify those after Publish, and receivers must treat them
// as read-only.
type Event struct {
	// Action is the kind of event.
	Action Action
	// SubKey is the keyspace of the channel.
	SubKey string
	// Channel is the channel the event is about.
	Channel string
	// UUID is the member the event is about; empty for Interval.
	UUID string
	// Occupancy is the number of distinct uuids present on Channel after the
	// change.
	Occupancy int
	// Time is the wall clock when the event was published, read as Publish
	// begins (so concurrent events of a sub key may carry times a little out
	// of timetoken order); set by Bus.Publish, or by the publisher for
	// Bus.Deliver.
	Time time.Time
	// Timetoken is Unix time in 100 ns units (17 digits for present-day
	// times); set by Bus.Publish, or by the publisher for Bus.Deliver. It is
	// strictly increasing per SubKey, also when the clock stands still or
	// steps back.
	Timetoken int64
	// State is, for Join, the member's state if known; for Leave and Timeout,
	// the state the member had; for StateChange, the new state. Nil when none.
	State json.RawMessage

	// Joined, Left and TimedOut are, for Interval events only, the uuids that
	// joined, left and timed out since the previous interval event. They are
	// nil when deltas are off or HereNowRefresh is set.
	Joined, Left, TimedOut []string
	// HereNowRefresh is set on an Interval event whose deltas would have
	// exceeded MaxDeltaBytes: clients should call Here Now instead.
	HereNowRefresh bool

	// Dropped is the number of events this subscription dropped immediately
	// before this one (DropOldest policy): a visible gap marker. Zero when
	// nothing was dropped. Set by the subscription on delivery.
	Dropped uint64
}

// TimetokenString returns e.Timetoken as AppendTimetoken formats it: a
// decimal string of at least 17 digits, zero-padded on the left.
func (e Event) TimetokenString() string {
	var buf [24]byte
	return string(AppendTimetoken(buf[:0], e.Timetoken))
}
