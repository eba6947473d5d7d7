package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/engine"
)

// ErrInvalidConfig is returned, wrapped with the offending field, by New for
// a Config it cannot run, and for cluster settings that differ from those
// the buckets were created with.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// Defaults applied by New to zero Config fields.
const (
	DefaultBucket  = "presence"
	DefaultTimeout = 5 * time.Second
	DefaultTick    = 250 * time.Millisecond
)

// history is how many messages a bucket keeps per key: every change a node
// has not read yet stays until it has (see "Identical events" in the package
// documentation), up to this many writes to one key, or its TTL.
const history = 16

// Config configures a Node. The zero value runs one node of a cluster on
// PubNub's presence defaults, in one file-backed bucket of one replica.
//
// The settings marked cluster-wide decide what the events are and where
// members are kept: every node must run with the same. The first node to
// start records them in JetStream, and New refuses a node whose settings
// differ (ErrInvalidConfig, naming the setting).
type Config struct {
	// Bucket names the JetStream key-value buckets: Bucket+"-groups" holds
	// the channel groups and the cluster-wide settings, and Bucket+"-0" up
	// to Bucket+"-<Buckets-1>" the members. Letters, digits, "-" and "_".
	// Empty means "presence". Nodes with different Buckets are different
	// presences sharing nothing.
	Bucket string
	// Buckets is how many buckets the members are spread over, by channel:
	// each bucket is a stream of its own, so more buckets carry more writes.
	// Cluster-wide. Zero means 1; at most 64.
	Buckets int
	// Replicas is the number of JetStream servers each bucket is kept on
	// (1, 3 or 5; 3 survives the loss of one server). Zero means 1. It
	// applies when a node creates or updates the buckets.
	Replicas int
	// Storage is the buckets' storage: jetstream.FileStorage (the default)
	// or jetstream.MemoryStorage.
	Storage jetstream.StorageType
	// MarkerTTL is how long the markers of members that left or timed out
	// stay in the buckets: a node whose reading of a bucket is cut off for
	// longer misses those removals and repairs its view later (see the
	// package documentation). JetStream raises every key's TTL to at least
	// this, so it may not exceed MinTimeout. Cluster-wide. Zero means
	// MinTimeout; at least 1 s.
	MarkerTTL time.Duration

	// DefaultTimeout, MinTimeout and MaxTimeout are engine.Config's: the
	// timeout of a heartbeat that names none (zero: 300 s) and the bounds
	// others are clamped to (zero: 20 s and 1 h). MinTimeout is at least
	// 1 s. Timeouts are whole seconds in the buckets: others are rounded up.
	DefaultTimeout, MinTimeout, MaxTimeout time.Duration
	// AnnounceMax, Interval and IntervalDeltas are engine.Config's interval
	// mode (zero: 20 and 10 s; negative AnnounceMax: always announce).
	// Cluster-wide.
	AnnounceMax    int
	Interval       time.Duration
	IntervalDeltas bool
	// MaxMembers bounds the memberships held in the whole cluster, as this
	// node sees them: joins through several nodes at once may pass it by as
	// many as are in flight. Zero means no bound.
	MaxMembers int
	// MaxStateBytes, MaxChannelsPerCall and MaxGroupChannels are
	// engine.Config's (zero: 32 KiB, 1000 and 2000).
	MaxStateBytes, MaxChannelsPerCall, MaxGroupChannels int
	// EventBuffer is the default buffer of a subscription that asks for
	// none. Zero means 1024.
	EventBuffer int

	// Timeout bounds each call's wait for JetStream; a call that runs out
	// fails with engine.ErrUnavailable. Zero means 5 s.
	Timeout time.Duration
	// Tick is how often the node marks each bucket with the time, so that
	// interval events and, with several buckets, the merge of their events
	// move on while a bucket is idle. Zero means 250 ms; at least 10 ms.
	Tick time.Duration

	// Logger receives what the node does not return: consumers that
	// restart, messages it cannot read. Nil means slog.Default().
	Logger *slog.Logger
}

var bucketName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// maxBuckets bounds Config.Buckets.
const maxBuckets = 64

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
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	defInt(&c.Buckets, 1)
	defInt(&c.Replicas, 1)
	def(&c.DefaultTimeout, engine.DefaultTimeout)
	def(&c.MinTimeout, engine.DefaultMinTimeout)
	def(&c.MarkerTTL, c.MinTimeout)
	def(&c.MaxTimeout, engine.DefaultMaxTimeout)
	defInt(&c.AnnounceMax, engine.DefaultAnnounceMax)
	def(&c.Interval, engine.DefaultInterval)
	defInt(&c.MaxStateBytes, engine.DefaultMaxStateBytes)
	defInt(&c.MaxChannelsPerCall, engine.DefaultMaxChannelsPerCall)
	defInt(&c.MaxGroupChannels, engine.DefaultMaxGroupChannels)
	defInt(&c.EventBuffer, 1024)
	def(&c.Timeout, DefaultTimeout)
	def(&c.Tick, DefaultTick)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}

	bad := func(field string, v any, why string) (Config, error) {
		return c, fmt.Errorf("%w: %s %v %s", ErrInvalidConfig, field, v, why)
	}
	switch {
	case !bucketName.MatchString(c.Bucket) || len(c.Bucket) > 200:
		return bad("Bucket", fmt.Sprintf("%q", c.Bucket), "is not letters, digits, - and _ (at most 200)")
	case c.Buckets < 1 || c.Buckets > maxBuckets:
		return bad("Buckets", c.Buckets, fmt.Sprintf("is not from 1 to %d", maxBuckets))
	case c.Replicas < 1 || c.Replicas > 5:
		return bad("Replicas", c.Replicas, "is not from 1 to 5")
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return bad("Storage", c.Storage, "is neither file nor memory")
	case c.MarkerTTL < time.Second:
		return bad("MarkerTTL", c.MarkerTTL, "is below 1s")
	case c.MarkerTTL > c.MinTimeout:
		return bad("MarkerTTL", c.MarkerTTL, "is above MinTimeout (JetStream would raise every TTL to it)")
	case c.MinTimeout < time.Second:
		return bad("MinTimeout", c.MinTimeout, "is below 1s")
	case c.MaxTimeout < c.MinTimeout:
		return bad("MaxTimeout", c.MaxTimeout, "is below MinTimeout")
	case c.DefaultTimeout < 0:
		return bad("DefaultTimeout", c.DefaultTimeout, "is negative")
	case c.Interval < time.Second:
		return bad("Interval", c.Interval, "is below 1s")
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
	case c.Timeout < 0:
		return bad("Timeout", c.Timeout, "is negative")
	case c.Tick < 10*time.Millisecond:
		return bad("Tick", c.Tick, "is below 10ms")
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

// ttlOf is the key TTL of a timeout: whole seconds, rounded up, so that a
// member never times out before its deadline.
func ttlOf(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// shared are the cluster-wide settings, recorded in the groups bucket by
// the first node and checked by every other.
type shared struct {
	Buckets        int   `json:"buckets"`
	MarkerMillis   int64 `json:"marker_ttl_ms"`
	AnnounceMax    int   `json:"announce_max"`
	IntervalMillis int64 `json:"interval_ms"`
	IntervalDeltas bool  `json:"interval_deltas"`
}

func (c *Config) shared() shared {
	return shared{
		Buckets:        c.Buckets,
		MarkerMillis:   c.MarkerTTL.Milliseconds(),
		AnnounceMax:    c.AnnounceMax,
		IntervalMillis: c.Interval.Milliseconds(),
		IntervalDeltas: c.IntervalDeltas,
	}
}

// diff names the first setting of s that differs from o.
func (s shared) diff(o shared) error {
	switch {
	case s.Buckets != o.Buckets:
		return fmt.Errorf("%w: Buckets %d here, %d in JetStream", ErrInvalidConfig, s.Buckets, o.Buckets)
	case s.MarkerMillis != o.MarkerMillis:
		return fmt.Errorf("%w: MarkerTTL %v here, %v in JetStream", ErrInvalidConfig,
			time.Duration(s.MarkerMillis)*time.Millisecond, time.Duration(o.MarkerMillis)*time.Millisecond)
	case s.AnnounceMax != o.AnnounceMax:
		return fmt.Errorf("%w: AnnounceMax %d here, %d in JetStream", ErrInvalidConfig, s.AnnounceMax, o.AnnounceMax)
	case s.IntervalMillis != o.IntervalMillis:
		return fmt.Errorf("%w: Interval %v here, %v in JetStream", ErrInvalidConfig,
			time.Duration(s.IntervalMillis)*time.Millisecond, time.Duration(o.IntervalMillis)*time.Millisecond)
	case s.IntervalDeltas != o.IntervalDeltas:
		return fmt.Errorf("%w: IntervalDeltas %v here, %v in JetStream", ErrInvalidConfig, s.IntervalDeltas, o.IntervalDeltas)
	}
	return nil
}
