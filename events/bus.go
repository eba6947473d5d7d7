package events

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
)

// Errors returned by the bus. Callers match them with errors.Is.
var (
	// ErrClosed is returned by Subscribe and Wait once the bus is closed.
	ErrClosed = errors.New("events: bus closed")
	// ErrInvalidFilter is returned, wrapped with the offending filter, by
	// Subscribe for a malformed Filter.
	ErrInvalidFilter = errors.New("events: invalid filter")
	// ErrInvalidOptions is returned, wrapped with the offending value, by
	// Subscribe for malformed Options.
	ErrInvalidOptions = errors.New("events: invalid options")
	// ErrOutOfOrder is returned, wrapped with the offending timetoken, by
	// Deliver for an event whose timetoken is not above the last one of its
	// sub key.
	ErrOutOfOrder = errors.New("events: timetoken out of order")
)

// DefaultBuffer is the buffer size of a subscription whose Options.Buffer is 0.
const DefaultBuffer = 1024

// Policy says what a subscription does when its buffer is full.
type Policy int

const (
	// DropOldest drops the oldest event of the buffer behind the Events
	// channel to make room (those in the channel are the reader's already),
	// counts it exactly and marks the gap on the next delivered event
	// (Event.Dropped).
	// A slow subscriber never slows the publisher down.
	DropOldest Policy = iota
	// Block drops nothing: the buffer grows past its size and the bus applies
	// back-pressure through Bus.Wait until the subscriber has caught up. A
	// lagging Block subscriber pauses every caller of Wait; see Bus.Wait.
	Block
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case Block:
		return "block"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Filter selects the events a subscription receives.
type Filter struct {
	// SubKey is the sub key to receive events of; "" means every sub key,
	// and then Channels must be empty.
	SubKey string
	// Channels are the channels of SubKey to receive events of; empty means
	// every channel of SubKey. Names must not be empty; duplicates are
	// ignored.
	Channels []string
}

// Options configure a subscription.
type Options struct {
	// Buffer is the number of events buffered for the subscriber. 0 means
	// DefaultBuffer; otherwise it must be positive. Half of them, at most 32,
	// are the capacity of the Events channel, allocated up front; the memory
	// of the rest grows with use. A Block buffer that overflowed keeps what
	// it grew to, up to twice its size, once the subscriber has caught up;
	// past that it gives the memory back.
	Buffer int
	// Policy is what happens when the buffer is full. The zero value is
	// DropOldest.
	Policy Policy
}

// BusConfig configures a Bus. The zero value is ready to use.
type BusConfig struct {
	// Now is the wall clock for Event.Time and timetokens; nil means
	// time.Now. Publish calls it before taking any lock, from as many
	// goroutines as publish, and it must not call into the bus.
	Now func() time.Time
}

// BusStats is a snapshot of a bus's counters.
type BusStats struct {
	// Published is the number of events published, with or without
	// subscribers.
	Published uint64
	// Dropped is the number of events dropped by DropOldest subscriptions,
	// including closed ones. Events still buffered when a subscription closes
	// are discarded and not counted.
	Dropped uint64
	// Subscriptions is the number of open subscriptions.
	Subscriptions int
}

// Bus delivers published events to the subscriptions whose filters match.
//
// A Bus is safe for concurrent use and must not be copied. Publish, Interested
// and Wait take no bus-wide lock; Publish takes the lock of the event's sub key
// and, for each matching subscription, that subscription's lock, and never
// blocks. Subscribe and Subscription.Close take a bus-wide lock and replace the
// immutable subscription index. Each subscription runs one goroutine; the bus
// starts no other.
type Bus struct {
	now func() time.Time

	// index is the immutable subscription index read by Publish and
	// Interested; replaced copy-on-write under mu.
	index atomic.Pointer[index]
	// keys holds the per-sub-key timetoken state. One small entry per sub key
	// ever published to; entries are never removed.
	keys *xsync.MapOf[string, *keyState]
	// floor is the timetoken every sub key's timetokens start above (see
	// RaiseFloor). floorMu guards it and is held while an entry of keys is
	// created, so that a sub key is either created above the floor or
	// raised by RaiseFloor; it is taken before any keyState.mu.
	floorMu sync.Mutex
	floor   int64

	// gate is the back-pressure word read by Wait: the number of Block
	// subscriptions holding more than their buffer size, plus gateClosed once
	// the bus is closed. Changed only under waitMu.
	gate   atomic.Int64
	waitMu sync.Mutex
	// relief is closed when gate drops to 0 or the bus closes; a new one is
	// made when gate rises from 0. Guarded by waitMu.
	relief     chan struct{}
	reliefOpen bool

	mu sync.Mutex // guards the fields below and index replacement
	// subs are the open subscriptions.
	subs map[*Subscription]struct{}
	// closedDropped sums Dropped over the subscriptions closed so far.
	closedDropped uint64

	closed    atomic.Bool
	closeOnce sync.Once
	pumps     sync.WaitGroup // one per subscription
}

// gateClosed is added to Bus.gate when the bus closes.
const gateClosed = int64(1) << 62

// keyState is the timetoken clock of one sub key.
type keyState struct {
	// mu serializes timetoken assignment and fan-out of the sub key's events.
	mu sync.Mutex
	// last is the last timetoken assigned. Guarded by mu.
	last int64
	// published counts the sub key's events. Guarded by mu: an atomic
	// would cost every event one more atomic instruction, for the rare
	// reader (Stats).
	published uint64
}

// NewBus returns a bus configured by cfg. Close it when done: each
// subscription runs a goroutine until closed.
func NewBus(cfg BusConfig) *Bus {
	b := &Bus{
		now:  cfg.Now,
		keys: xsync.NewMapOf[string, *keyState](),
		subs: make(map[*Subscription]struct{}),
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.index.Store(&index{})
	return b
}

// Subscribe adds a subscription with filter f and options o. It returns
// ErrInvalidFilter or ErrInvalidOptions (wrapped with the offending value) for
// malformed arguments, and ErrClosed once the bus is closed. The subscription
// receives events published after Subscribe returns; close it when done.
func (b *Bus) Subscribe(f Filter, o Options) (*Subscription, error) {
	f, err := normalizeFilter(f)
	if err != nil {
		return nil, err
	}
	switch {
	case o.Buffer < 0:
		return nil, fmt.Errorf("%w: buffer %d is negative", ErrInvalidOptions, o.Buffer)
	case o.Policy != DropOldest && o.Policy != Block:
		return nil, fmt.Errorf("%w: unknown policy %d", ErrInvalidOptions, int(o.Policy))
	case o.Buffer == 0:
		o.Buffer = DefaultBuffer
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, ErrClosed
	}
	s := newSubscription(b, f, o)
	b.subs[s] = struct{}{}
	var ks *keyState
	if f.SubKey != "" {
		ks = b.keyState(f.SubKey)
	}
	b.index.Store(b.index.Load().with(s, true, ks))
	b.pumps.Add(1)
	go s.pump()
	return s, nil
}

// normalizeFilter validates f and returns a copy with its own, sorted and
// deduplicated Channels.
func normalizeFilter(f Filter) (Filter, error) {
	if f.SubKey == "" && len(f.Channels) > 0 {
		return f, fmt.Errorf("%w: channels %q without a sub key", ErrInvalidFilter, f.Channels)
	}
	if slices.Contains(f.Channels, "") {
		return f, fmt.Errorf("%w: empty channel name in %q", ErrInvalidFilter, f.Channels)
	}
	if len(f.Channels) > 0 {
		f.Channels = slices.Compact(slices.Sorted(slices.Values(f.Channels)))
	}
	return f, nil
}

// remove takes a closed subscription out of the bus.
func (b *Bus) remove(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; !ok {
		return
	}
	delete(b.subs, s)
	b.closedDropped += s.Dropped()
	if !b.closed.Load() {
		b.index.Store(b.index.Load().with(s, false, nil))
	}
}

// Publish sets ev.Time and ev.Timetoken, then hands a copy of *ev to every
// matching subscription. It never blocks, whatever the subscriptions' policies:
// per matching subscription it only puts the event into the Events channel if
// that has room and nothing waits before it, or else appends it to the
// subscription's buffer. A sub key's events reach every subscription in
// timetoken order: the lock of ev.SubKey is held while the timetoken is
// assigned and the matching subscriptions' locks are taken, and each of those
// is held until the event is in. After Close it does nothing.
//
// With no matching subscription, Publish allocates nothing once the sub key has
// been seen; callers can skip building events altogether by asking Interested.
func (b *Bus) Publish(ev *Event) {
	if b.closed.Load() {
		return
	}
	ix := b.index.Load()
	ks, subs := b.match(ix, ev)
	b.publish(ix, ks, subs, ev)
}

// publish stamps ev and delivers it to subs and ix.all, in ks's order.
func (b *Bus) publish(ix *index, ks *keyState, subs matched, ev *Event) {
	now := b.now()
	ks.mu.Lock()
	tt := Timetoken(now)
	if tt <= ks.last {
		tt = ks.last + 1
	}
	ev.Time, ev.Timetoken = now, tt
	b.deliverLocked(ix, ks, subs, ev)
}

// Route is where the events of one channel of one sub key go: the
// subscriptions whose filters match them, as they were when Bus.Route
// found them. A publisher that asks whether anyone listens before it builds
// an event, as the engine does, publishes the event on the route it got, and
// the bus looks the subscriptions up once instead of twice.
//
// A Route is a value for one event; a subscription added after Bus.Route
// returned misses that event, as it would had it subscribed a moment later,
// and one closed since receives nothing.
type Route struct {
	b    *Bus
	ix   *index
	ks   *keyState
	subs matched
}

// Route returns the route of the events of channel in subKey, and whether
// any subscription is on it. It takes no lock and, once the sub key has been
// seen, allocates nothing.
func (b *Bus) Route(subKey, channel string) (Route, bool) {
	ix := b.index.Load()
	k := ix.key(subKey)
	switch {
	case k != nil:
		subs := matched{k.all, k.channels[channel]}
		return Route{b, ix, k.ks, subs}, len(ix.all) > 0 || len(subs.keyAll) > 0 || len(subs.channel) > 0
	case len(ix.all) > 0:
		return Route{b: b, ix: ix, ks: b.keyState(subKey)}, true
	}
	return Route{}, false
}

// Publish is Bus.Publish on the route: ev must be an event of the route's
// sub key and channel, and goes to the route's subscriptions. It does
// nothing for a route without subscriptions, and after Close.
func (r *Route) Publish(ev *Event) {
	if r.ks == nil || r.b.closed.Load() {
		return
	}
	r.b.publish(r.ix, r.ks, r.subs, ev)
}

// Deliver is Publish for events that already carry their Time and
// Timetoken, decided by the publisher: for instance by a store that orders
// the events of several servers, so that every server delivers each event
// with the same timetoken. It hands a copy of *ev to every matching
// subscription as Publish does, without changing ev.
//
// A sub key's timetokens must be strictly increasing across Publish and
// Deliver. Deliver returns an error wrapping ErrOutOfOrder, and delivers
// nothing, for an event whose timetoken is not above the last one of its sub
// key; it returns ErrClosed after Close.
func (b *Bus) Deliver(ev *Event) error {
	if b.closed.Load() {
		return ErrClosed
	}
	ix := b.index.Load()
	ks, subs := b.match(ix, ev)
	ks.mu.Lock()
	if ev.Timetoken <= ks.last {
		last := ks.last
		ks.mu.Unlock()
		return fmt.Errorf("%w: timetoken %d of sub key %q is not above %d", ErrOutOfOrder, ev.Timetoken, ev.SubKey, last)
	}
	b.deliverLocked(ix, ks, subs, ev)
	return nil
}

// matched are the subscriptions an event goes to, besides those to every
// sub key.
type matched struct{ keyAll, channel []*Subscription }

// match finds the timetoken state of ev's sub key and the subscriptions of ix
// that match ev.
func (b *Bus) match(ix *index, ev *Event) (*keyState, matched) {
	if k := ix.key(ev.SubKey); k != nil {
		return k.ks, matched{k.all, k.channels[ev.Channel]}
	}
	return b.keyState(ev.SubKey), matched{}
}

// deliverLocked records ev.Timetoken as the sub key's last, takes the
// matching subscriptions' locks, releases ks.mu, which the caller holds, and
// hands ev to each subscription.
func (b *Bus) deliverLocked(ix *index, ks *keyState, m matched, ev *Event) {
	ks.last = ev.Timetoken
	ks.published++
	// The subscriptions are locked in index order (those of every sub key
	// first, in the order they subscribed), so publishers of different sub
	// keys sharing some take them in the same order.
	lockAll(ix.all)
	lockAll(m.keyAll)
	lockAll(m.channel)
	ks.mu.Unlock()
	pushAll(ix.all, ev)
	pushAll(m.keyAll, ev)
	pushAll(m.channel, ev)
}

// lockAll locks each subscription of list, in order.
func lockAll(list []*Subscription) {
	for _, s := range list {
		s.mu.Lock()
	}
}

// pushAll hands ev to each subscription of list, which lockAll locked, and
// unlocks it.
func pushAll(list []*Subscription, ev *Event) {
	for _, s := range list {
		s.pushLocked(ev)
		s.mu.Unlock()
	}
}

// keyState returns the timetoken state of subKey, creating it on first use.
func (b *Bus) keyState(subKey string) *keyState {
	if ks, ok := b.keys.Load(subKey); ok {
		return ks
	}
	b.floorMu.Lock()
	defer b.floorMu.Unlock()
	ks, _ := b.keys.LoadOrCompute(subKey, func() *keyState { return &keyState{last: b.floor} })
	return ks
}

// Interested reports whether any subscription would receive an event of
// channel in subKey. It takes no lock and allocates nothing, so callers can
// use it to skip building events nobody reads. The answer may be stale by the
// time the caller publishes; a subscription added meanwhile simply misses the
// event, as it would had it subscribed a moment later.
func (b *Bus) Interested(subKey, channel string) bool {
	ix := b.index.Load()
	if len(ix.all) > 0 {
		return true
	}
	k := ix.key(subKey)
	return k != nil && (len(k.all) > 0 || len(k.channels[channel]) > 0)
}

// Wait is the back-pressure point of Block subscriptions. It returns nil at
// once (one atomic load, no allocation) unless some Block subscription holds
// more than its buffer size; then it waits until none does (nil), ctx is done
// (ctx.Err()) or the bus closes (ErrClosed). After Close it returns ErrClosed.
//
// Callers call Wait before taking their own locks, never under them. A
// lagging Block subscriber pauses every caller of Wait, so it must not call
// into a component that calls Wait (such as the engine) from its receive loop
// while it lags: it would wait for itself.
func (b *Bus) Wait(ctx context.Context) error {
	if b.gate.Load() == 0 {
		return nil
	}
	return b.waitSlow(ctx)
}

func (b *Bus) waitSlow(ctx context.Context) error {
	for {
		b.waitMu.Lock()
		g, relief := b.gate.Load(), b.relief
		b.waitMu.Unlock()
		switch {
		case g&gateClosed != 0:
			return ErrClosed
		case g == 0:
			return nil
		}
		select {
		case <-relief:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// addPressure records that a Block subscription went over its buffer size.
func (b *Bus) addPressure() {
	b.waitMu.Lock()
	if b.gate.Add(1) == 1 {
		b.relief = make(chan struct{})
		b.reliefOpen = true
	}
	b.waitMu.Unlock()
}

// releasePressure records that a Block subscription is back within its
// buffer size (or closed).
func (b *Bus) releasePressure() {
	b.waitMu.Lock()
	if b.gate.Add(-1) == 0 && b.reliefOpen {
		close(b.relief)
		b.reliefOpen = false
	}
	b.waitMu.Unlock()
}

// Stats returns a snapshot of the bus's counters.
func (b *Bus) Stats() BusStats {
	var st BusStats
	b.keys.Range(func(_ string, ks *keyState) bool {
		ks.mu.Lock()
		st.Published += ks.published
		ks.mu.Unlock()
		return true
	})
	b.mu.Lock()
	st.Dropped = b.closedDropped
	for s := range b.subs {
		st.Dropped += s.Dropped()
	}
	st.Subscriptions = len(b.subs)
	b.mu.Unlock()
	return st
}

// Close closes the bus: Publish does nothing afterwards, Subscribe and Wait
// return ErrClosed, and every subscription is closed, its Events channel
// included. Close returns after every goroutine the bus started has exited.
// It is idempotent and safe to call concurrently with every other method.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed.Store(true)
		b.index.Store(&index{})
		subs := slices.Collect(maps.Keys(b.subs))
		b.mu.Unlock()

		b.waitMu.Lock()
		b.gate.Add(gateClosed)
		if b.reliefOpen {
			close(b.relief)
			b.reliefOpen = false
		}
		b.waitMu.Unlock()

		for _, s := range subs {
			s.Close()
		}
	})
	b.pumps.Wait()
}

// index is an immutable snapshot of the subscriptions by filter. It is never
// modified once stored in Bus.index; with returns a modified copy that shares
// every part it does not change.
type index struct {
	// all are the subscriptions to every sub key.
	all []*Subscription
	// keys are the subscriptions by sub key.
	keys map[string]*keyIndex
	// only is the one entry of keys when it has one, else nil.
	only *keyIndex
}

// key returns the part of ix for subKey, or nil. With subscriptions to one
// sub key, the common case, it compares that key instead of looking it up in
// the map.
func (ix *index) key(subKey string) *keyIndex {
	if ix.only != nil {
		if ix.only.subKey == subKey {
			return ix.only
		}
		return nil
	}
	return ix.keys[subKey]
}

// keyIndex is the part of an index for one sub key.
type keyIndex struct {
	subKey string
	// ks is the sub key's timetoken state, so that Publish finds it without
	// a second lookup.
	ks *keyState
	// all are the subscriptions to every channel of the sub key.
	all []*Subscription
	// channels are the subscriptions by channel.
	channels map[string][]*Subscription
}

// with returns a copy of ix with s added (add) or removed (!add); ks is the
// timetoken state of s's sub key, needed only when adding. Its cost is
// proportional to the number of sub keys and of channels subscribed in s's
// sub key, not to the number of subscriptions elsewhere.
func (ix *index) with(s *Subscription, add bool, ks *keyState) *index {
	edit := func(list []*Subscription) []*Subscription {
		if add {
			return append(slices.Clip(list), s)
		}
		out := slices.DeleteFunc(slices.Clone(list), func(x *Subscription) bool { return x == s })
		if len(out) == 0 {
			return nil
		}
		return out
	}
	f := s.filter
	nx := &index{all: ix.all, keys: ix.keys, only: ix.only}
	if f.SubKey == "" {
		nx.all = edit(ix.all)
		return nx
	}
	k := &keyIndex{subKey: f.SubKey, ks: ks}
	if old := ix.keys[f.SubKey]; old != nil {
		*k = *old
	}
	if len(f.Channels) == 0 {
		k.all = edit(k.all)
	} else {
		k.channels = maps.Clone(k.channels)
		if k.channels == nil {
			k.channels = make(map[string][]*Subscription, len(f.Channels))
		}
		for _, ch := range f.Channels {
			if list := edit(k.channels[ch]); list != nil {
				k.channels[ch] = list
			} else {
				delete(k.channels, ch)
			}
		}
	}
	nx.keys = maps.Clone(ix.keys)
	if nx.keys == nil {
		nx.keys = make(map[string]*keyIndex)
	}
	if len(k.all) == 0 && len(k.channels) == 0 {
		delete(nx.keys, f.SubKey)
	} else {
		nx.keys[f.SubKey] = k
	}
	nx.only = nil
	if len(nx.keys) == 1 {
		for _, only := range nx.keys {
			nx.only = only
		}
	}
	return nx
}
