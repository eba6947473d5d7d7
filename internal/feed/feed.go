// Package feed keeps the recent presence events of each sub key, encoded and
// indexed by timetoken, for the subscribe long-poll, and wakes the requests
// that wait for them.
//
// # Model
//
// A Feed reads one engine subscription (every sub key, DropOldest) on one
// goroutine. The events of a sub key that some request has asked for (see
// Feed.Acquire) are encoded once and appended to that sub key's Key: a ring
// of entries in timetoken order, bounded by bytes and by age. A request reads
// the events newer than its cursor on its channels with Key.Poll; if there are
// none, Poll registers its Waiter under each of its channels, and the feed
// wakes exactly the waiters of an event's channel when it arrives. A waiting
// request costs its Waiter and nothing else: no goroutine, no timer of the
// feed's.
//
// # Gaps
//
// A cursor may be older than what a Key still holds. A Key remembers, per
// channel, the timetoken of the newest event it evicted, for the last
// maxEvicted evictions; past those, and when the engine subscription dropped
// events (events.Event.Dropped) or the Key is new, it keeps one floor for the
// whole sub key. Poll reports a channel as Stale when an event of it newer
// than the cursor may be missing, so the caller can tell the client to
// refresh.
//
// # Lifecycle
//
// The engine subscription is opened, and the goroutine started, by the first
// Acquire. Close closes the subscription and waits for the goroutine; so
// does closing the engine (the goroutine ends when the subscription's
// channel closes). Either way Done is closed, so that waiting requests stop.
package feed

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presence/events"
)

// ErrClosed is returned by Acquire once the feed is closed.
var ErrClosed = errors.New("feed: closed")

// Config configures a Feed.
type Config struct {
	// Subscribe opens the subscription the feed reads. It is called once, by
	// the first Acquire. The feed closes the subscription when it stops.
	Subscribe func() (*events.Subscription, error)
	// Encode appends the encoded form of ev to dst. It runs on the feed's
	// goroutine, with no lock held.
	Encode func(dst []byte, ev *events.Event) []byte
	// MaxBytes bounds the memory of one sub key's events: encoded bytes plus
	// a fixed overhead per event. The newest event is always kept.
	MaxBytes int
	// MaxAge is how long an event is kept. A sub key that holds no events, is
	// used by no request and was last acquired more than MaxAge ago is
	// forgotten.
	MaxAge time.Duration
	// Now is the wall clock that new floors are read from; nil means time.Now.
	// It must agree with the clock that stamps the events' timetokens.
	Now func() time.Time
	// KeepAll keeps the events of every sub key from Start on, not only
	// those of sub keys some request has acquired, and forgets no sub key:
	// a request that arrives with a cursor handed out by another server
	// finds the events after it.
	KeepAll bool
}

// Feed is the event cache of every sub key. It is safe for concurrent use
// and must not be copied.
type Feed struct {
	cfg   Config
	epoch time.Time // monotonic base of entry ages

	mu    sync.RWMutex // guards keys and state; taken before any Key's lock
	keys  map[string]*Key
	state int

	stop      chan struct{} // closed by Close: the goroutine returns
	done      chan struct{} // closed when the goroutine has returned
	closed    chan struct{} // closed when the feed stops, whatever the cause
	stopOnce  sync.Once
	closeOnce sync.Once

	waiting       atomic.Int64
	events, bytes atomic.Int64
	gaps          atomic.Uint64

	// startTT is one below the timetoken of the feed's start, the floor of
	// the keys of a KeepAll feed; under mu.
	startTT int64
	// gapTT is the floor the last gap left (see gap), for the keys a
	// KeepAll feed makes later.
	gapTT atomic.Int64
}

const (
	idle = iota
	running
	stopped
)

// New returns a feed configured by cfg. It starts nothing until the first
// Acquire.
func New(cfg Config) *Feed {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Feed{
		cfg:    cfg,
		epoch:  time.Now(),
		keys:   make(map[string]*Key),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
}

// Acquire returns the Key of subKey, creating it (and, the first time,
// starting the feed) if needed. The caller must call Key.Release when done
// with it: a Key in use is never forgotten. It returns ErrClosed once the
// feed is closed, or the error of Config.Subscribe.
func (f *Feed) Acquire(subKey string) (*Key, error) {
	f.mu.RLock()
	k, state := f.keys[subKey], f.state
	if k != nil && state != stopped {
		k.refs.Add(1) // under the read lock: the sweeper cannot forget k meanwhile
		k.used.Store(f.mono())
	}
	f.mu.RUnlock()
	if state == stopped {
		return nil, ErrClosed
	}
	if k != nil {
		return k, nil
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.startLocked(); err != nil {
		return nil, err
	}
	if k = f.keys[subKey]; k == nil {
		// The floor is read under the write lock, which the goroutine's
		// lookups exclude: an event it dropped for want of this Key was
		// published before now, so its timetoken is at most now's, or
		// equal to it within the same 100 ns; later events have later
		// timetokens. One below now leaves the latter to Head's cursors.
		// A KeepAll feed dropped none since it started.
		floor := events.Timetoken(f.cfg.Now()) - 1
		if f.cfg.KeepAll {
			floor = max(f.startTT, f.gapTT.Load())
		}
		k = f.newKeyLocked(subKey, floor)
	}
	k.refs.Add(1)
	k.used.Store(f.mono())
	return k, nil
}

// Start opens the subscription and starts the feed's goroutine, if the first
// Acquire has not. A KeepAll feed keeps events from then on. It returns
// ErrClosed once the feed is closed, or the error of Config.Subscribe.
func (f *Feed) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.startLocked()
}

// startLocked starts the feed unless it runs. Under f.mu.
func (f *Feed) startLocked() error {
	switch f.state {
	case stopped:
		return ErrClosed
	case idle:
		f.startTT = events.Timetoken(f.cfg.Now()) - 1
		sub, err := f.cfg.Subscribe()
		if err != nil {
			return err
		}
		f.state = running
		go f.run(sub)
	}
	return nil
}

// newKeyLocked files a new Key for subKey. Under f.mu.
func (f *Feed) newKeyLocked(subKey string, floor int64) *Key {
	k := &Key{f: f, floor: floor, evicted: make(map[string]int64)}
	f.keys[subKey] = k
	return k
}

// Done is closed when the feed stops: by Close, or because its subscription
// closed (the engine closed). Waiting requests should then answer.
func (f *Feed) Done() <-chan struct{} { return f.closed }

// Close stops the feed: Done is closed, the subscription is closed and the
// goroutine has returned when Close returns. Close is idempotent and safe to
// call concurrently with every other method.
func (f *Feed) Close() {
	f.mu.Lock()
	wasRunning := f.state == running
	f.state = stopped
	f.mu.Unlock()
	f.closeOnce.Do(func() { close(f.closed) })
	if wasRunning {
		f.stopOnce.Do(func() { close(f.stop) })
		<-f.done
	}
}

// Stats is a snapshot of a feed's counters.
type Stats struct {
	// Keys is the number of sub keys whose events are kept.
	Keys int
	// Events and Bytes are the events kept, all sub keys together, and their
	// memory as counted against Config.MaxBytes.
	Events, Bytes int64
	// Waiting is the number of registered waiters.
	Waiting int64
	// Gaps counts the times the engine subscription dropped events.
	Gaps uint64
}

// Stats returns the feed's counters.
func (f *Feed) Stats() Stats {
	f.mu.RLock()
	n := len(f.keys)
	f.mu.RUnlock()
	return Stats{
		Keys:    n,
		Events:  f.events.Load(),
		Bytes:   f.bytes.Load(),
		Waiting: f.waiting.Load(),
		Gaps:    f.gaps.Load(),
	}
}

// mono is the monotonic time since the feed was created, in nanoseconds.
func (f *Feed) mono() int64 { return int64(time.Since(f.epoch)) }

// sweepEvery is how often aged events are evicted and idle keys forgotten.
func (f *Feed) sweepEvery() time.Duration {
	return min(max(f.cfg.MaxAge/4, time.Millisecond), 5*time.Second)
}

// run is the feed's goroutine: it moves events from the subscription into
// the keys until Close or the subscription closes.
func (f *Feed) run(sub *events.Subscription) {
	defer close(f.done)
	defer sub.Close()
	sweep := time.NewTicker(f.sweepEvery())
	defer sweep.Stop()
	var buf []byte
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				f.mu.Lock()
				f.state = stopped
				f.mu.Unlock()
				f.closeOnce.Do(func() { close(f.closed) })
				return
			}
			buf = f.add(&ev, buf)
		case <-sweep.C:
			f.sweep()
		case <-f.stop:
			return
		}
	}
}

// add files one event. buf is scratch for the encoder, returned for reuse.
func (f *Feed) add(ev *events.Event, buf []byte) []byte {
	if ev.Dropped > 0 {
		f.gap(ev)
	}
	f.mu.RLock()
	k := f.keys[ev.SubKey]
	f.mu.RUnlock()
	if k == nil {
		if !f.cfg.KeepAll {
			return buf // nobody asked for this sub key
		}
		f.mu.Lock()
		if k = f.keys[ev.SubKey]; k == nil {
			k = f.newKeyLocked(ev.SubKey, max(f.startTT, f.gapTT.Load()))
		}
		f.mu.Unlock()
	}
	buf = f.cfg.Encode(buf[:0], ev)
	e := entry{tt: ev.Timetoken, at: f.mono(), ch: ev.Channel, body: bytes.Clone(buf)}
	k.mu.Lock()
	k.push(e)
	k.wakeLocked(ev.Channel)
	k.mu.Unlock()
	if cap(buf) > 64<<10 {
		buf = nil // do not pin one large event
	}
	return buf
}

// gap handles events the subscription dropped. Which sub keys and channels
// they were of is unknown, so every key raises its floor past what it has
// seen and past the wall clock of the event after the gap (the dropped
// events were published before it), and wakes all its waiters: they may
// have missed events.
func (f *Feed) gap(ev *events.Event) {
	f.gaps.Add(1)
	at := events.Timetoken(ev.Time)
	for old := f.gapTT.Load(); old < at && !f.gapTT.CompareAndSwap(old, at); old = f.gapTT.Load() {
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, k := range f.keys {
		k.mu.Lock()
		k.floor = max(k.floor, k.newest, at)
		k.wakeAllLocked()
		k.mu.Unlock()
	}
}

// sweep evicts aged events and forgets idle keys.
func (f *Feed) sweep() {
	now := f.mono()
	cut := now - int64(f.cfg.MaxAge)
	var forget []string
	f.mu.RLock()
	for sk, k := range f.keys {
		k.mu.Lock()
		for k.n > 0 && k.at(0).at < cut {
			k.evictFront()
		}
		k.shrink()
		if k.n == 0 && k.waiters == 0 && k.refs.Load() == 0 && k.used.Load() < cut && !f.cfg.KeepAll {
			forget = append(forget, sk)
		}
		k.mu.Unlock()
	}
	f.mu.RUnlock()
	if len(forget) == 0 {
		return
	}
	f.mu.Lock()
	for _, sk := range forget {
		// Acquire takes a reference under the read lock, so with the write
		// lock held the reference count is final.
		if k := f.keys[sk]; k != nil && k.refs.Load() == 0 && k.used.Load() < cut {
			k.mu.Lock()
			empty := k.n == 0
			k.mu.Unlock()
			if empty {
				delete(f.keys, sk)
			}
		}
	}
	f.mu.Unlock()
}
