package engine

import (
	"fmt"
	"runtime"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout            = 300 * time.Second
	DefaultMinTimeout         = 20 * time.Second
	DefaultMaxTimeout         = time.Hour
	DefaultTick               = time.Second
	DefaultAnnounceMax        = 20
	DefaultInterval           = 10 * time.Second
	DefaultMaxStateBytes      = 32 << 10
	DefaultMaxChannelsPerCall = 1000
	DefaultMaxGroupChannels   = 2000
)

// Config configures an Engine. The zero value gives PubNub's defaults: a zero
// field takes the default its comment gives, and New checks the bounds below
// after that, returning an error wrapping ErrInvalidConfig that names the
// field for a value outside them. A negative duration or count is an error,
// except AnnounceMax.
type Config struct {
	// DefaultTimeout is the presence timeout of a heartbeat that names none.
	// Zero means 300 s; negative is an error. Like a heartbeat's own timeout,
	// it is clamped to [MinTimeout, MaxTimeout].
	DefaultTimeout time.Duration
	// MinTimeout and MaxTimeout bound a heartbeat's timeout: values outside
	// are clamped to them. Zero means 20 s and 1 h. MinTimeout must be at
	// least 1 s, and MaxTimeout at least MinTimeout.
	MinTimeout, MaxTimeout time.Duration

	// Tick is the resolution of expiry: a member that stops heartbeating times
	// out no earlier than its deadline and at most one Tick (plus the timer's
	// 1 ms resolution) after it. Zero means 1 s; otherwise at least 1 ms and
	// at most MinTimeout.
	Tick time.Duration
	// ExpiryWorkers bounds the goroutines that expire members. Zero means
	// min(GOMAXPROCS, 4).
	ExpiryWorkers int

	// AnnounceMax is the occupancy above which a channel's join, leave and
	// timeout events are replaced by one interval event every Interval.
	// Zero means 20; negative means never (always announce).
	AnnounceMax int
	// Interval is the period of interval events. Zero means 10 s; otherwise
	// at least 1 ms.
	Interval time.Duration
	// IntervalDeltas makes interval events list the uuids that joined, left
	// and timed out since the previous one (PubNub's "presence deltas").
	IntervalDeltas bool

	// MaxMembers bounds the memberships (uuid, channel pairs) held in all sub
	// keys together. A join past it fails with ErrCapacity. Zero means no bound.
	MaxMembers int
	// MaxStateBytes bounds one state object, after compaction. Zero means
	// 32 KiB; otherwise at least 2 (the size of {}).
	MaxStateBytes int
	// MaxChannelsPerCall bounds the channels, and separately the groups, one
	// call may name. Zero means 1000.
	MaxChannelsPerCall int
	// MaxGroupChannels bounds the channels of one channel group. Zero means 2000.
	MaxGroupChannels int

	// EventBuffer is the default buffer of a subscription that asks for none.
	// Zero means 1024.
	EventBuffer int

	// Now is the wall clock stamped on events. Nil means time.Now. Deadlines do
	// not use it: they run on the monotonic clock, so a step of the wall clock
	// expires nobody early or late.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.DefaultTimeout, DefaultTimeout)
	def(&c.MinTimeout, DefaultMinTimeout)
	def(&c.MaxTimeout, DefaultMaxTimeout)
	def(&c.Tick, DefaultTick)
	def(&c.Interval, DefaultInterval)
	defInt(&c.ExpiryWorkers, min(runtime.GOMAXPROCS(0), 4))
	defInt(&c.AnnounceMax, DefaultAnnounceMax)
	defInt(&c.MaxStateBytes, DefaultMaxStateBytes)
	defInt(&c.MaxChannelsPerCall, DefaultMaxChannelsPerCall)
	defInt(&c.MaxGroupChannels, DefaultMaxGroupChannels)
	defInt(&c.EventBuffer, 1024)
	if c.Now == nil {
		c.Now = time.Now
	}

	bad := func(field string, v any, why string) (Config, error) {
		return c, fmt.Errorf("%w: %s %v %s", ErrInvalidConfig, field, v, why)
	}
	switch {
	case c.MinTimeout < time.Second:
		return bad("MinTimeout", c.MinTimeout, "is below 1s")
	case c.MaxTimeout < c.MinTimeout:
		return bad("MaxTimeout", c.MaxTimeout, "is below MinTimeout")
	case c.DefaultTimeout < 0:
		return bad("DefaultTimeout", c.DefaultTimeout, "is negative")
	case c.Tick < time.Millisecond:
		return bad("Tick", c.Tick, "is below 1ms")
	case c.Tick > c.MinTimeout:
		return bad("Tick", c.Tick, "is above MinTimeout")
	case c.Interval < time.Millisecond:
		return bad("Interval", c.Interval, "is below 1ms")
	case c.ExpiryWorkers < 0:
		return bad("ExpiryWorkers", c.ExpiryWorkers, "is negative")
	case c.MaxMembers < 0:
		return bad("MaxMembers", c.MaxMembers, "is negative")
	case c.MaxStateBytes < 2:
		return bad("MaxStateBytes", c.MaxStateBytes, "is below 2")
	case c.MaxChannelsPerCall < 0:
		return bad("MaxChannelsPerCall", c.MaxChannelsPerCall, "is negative")
	case c.MaxGroupChannels < 0:
		return bad("MaxGroupChannels", c.MaxGroupChannels, "is negative")
	case c.EventBuffer < 0:
		return bad("EventBuffer", c.EventBuffer, "is negative")
	}
	return c, nil
}

// clampTimeout maps a heartbeat's timeout to the one in force.
func (c *Config) clampTimeout(d time.Duration) time.Duration {
	if d == 0 {
		d = c.DefaultTimeout
	}
	return min(max(d, c.MinTimeout), c.MaxTimeout)
}
