// Package impl puts the presence engine and the baselines behind one small
// interface, Presence, so that every benchmark runs every implementation in
// the same process with the same code.
//
// The adapters are thin: each method is one call of the implementation's own
// API, and no adapter converts results on a measured path. The engine adapter
// passes the caller's channel slice through and builds its request on the
// stack, so a refresh through it allocates no more than the engine does.
package impl

import (
	"time"

	"github.com/presenced/presence/events"
)

// Presence is the subset of presence every implementation under benchmark
// offers. Implementations are safe for concurrent use, except that Close must
// not race other calls.
type Presence interface {
	// Heartbeat records that uuid is alive on channels for timeout and
	// returns the number of channels it joined.
	Heartbeat(uuid string, channels []string, timeout time.Duration) (joined int, err error)
	// Leave removes uuid from channels and returns the number it was on.
	Leave(uuid string, channels []string) (left int, err error)
	// Occupancy returns the number of members of channel.
	Occupancy(channel string) (int, error)
	// HereNow lists up to limit members of channel from the offset-th on, in
	// the implementation's own result type, and returns the occupancy and
	// the number listed.
	HereNow(channel string, offset, limit int) (occupancy, listed int, err error)
	// Members returns every member of channel, in no particular order. It is
	// for tests, not benchmarks.
	Members(channel string) ([]string, error)
	// Subscribe returns a subscription to the join, leave and timeout events
	// of channels (every channel if none) that buffers up to buffer events
	// and blocks publishers rather than drop an event.
	Subscribe(channels []string, buffer int) (Subscription, error)
	// Close releases the implementation. It is idempotent.
	Close() error
}

// Subscription receives events on a channel that Close closes.
type Subscription interface {
	Events() <-chan events.Event
	Close()
}

// Name identifies an implementation in benchmark names (impl=Name).
type Name string

// The implementations.
const (
	Engine         Name = "engine"
	Naive          Name = "naive"
	WheelPerMember Name = "wheel-per-member"
)

// All lists every implementation, the engine first.
var All = []Name{Engine, Naive, WheelPerMember}

// Options tune the implementations for a benchmark. The zero value is usable.
type Options struct {
	// Tick is the engine's expiry resolution; zero means the engine's
	// default (1s). The baselines have no such knob.
	Tick time.Duration
}

// New returns a new, empty implementation called name.
func New(name Name, o Options) (Presence, error) {
	switch name {
	case Engine:
		return NewEngine(o)
	case Naive:
		return newNaive(), nil
	case WheelPerMember:
		return newWheelPerMember(), nil
	}
	return nil, &UnknownError{Name: name}
}

// UnknownError is returned by New for a name not in All.
type UnknownError struct{ Name Name }

func (e *UnknownError) Error() string { return "impl: unknown implementation " + string(e.Name) }
