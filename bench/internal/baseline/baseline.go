// Package baseline holds the designs the presence engine is measured against:
// what a competent Go team writes on a first pass.
//
// Both baselines keep, per channel, a map from uuid to *member under the
// channel's own sync.RWMutex, and the channels in a map under a
// sync.RWMutex. They differ in how a member expires:
//
//   - Naive arms one runtime timer per member (time.AfterFunc) and resets it
//     on every heartbeat.
//   - WheelPerMember arms one github.com/RussellLuo/timingwheel timer per
//     member and stops and re-creates it on every heartbeat.
//
// They offer the subset of presence the benchmarks exercise: heartbeat (join
// or refresh), leave, occupancy, a page of here now, and join, leave and
// timeout events delivered to subscribers on buffered Go channels, in order per
// channel and each with the occupancy after the change. They have
// no state, no channel groups and no interval mode. A heartbeat's timeout is
// used as given (the engine clamps it to its configured bounds).
//
// They are honest: no deliberate slowness, and correct under concurrency
// (the package's tests run under the race detector).
package baseline

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presence/events"
)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("baseline: closed")

// SubKey is the sub key stamped on the events of the baselines, which have one
// keyspace only.
const SubKey = "bench"

// registry is the map of channels, each holding a map of members.
type registry[M any] struct {
	mu    sync.RWMutex
	chans map[string]*channel[M]
}

// channel is one channel's members. A channel emptied by a leave or a timeout
// is removed from the registry and marked dead; a caller that finds it dead
// after locking it looks it up again.
type channel[M any] struct {
	name    string
	mu      sync.RWMutex
	members map[string]*M // under mu
	dead    bool          // under mu
}

func newRegistry[M any]() registry[M] {
	return registry[M]{chans: make(map[string]*channel[M])}
}

// get returns the channel named name, or nil.
func (r *registry[M]) get(name string) *channel[M] {
	r.mu.RLock()
	ch := r.chans[name]
	r.mu.RUnlock()
	return ch
}

// getOrCreate returns the channel named name, creating it. It may be dead by
// the time the caller locks it.
func (r *registry[M]) getOrCreate(name string) *channel[M] {
	if ch := r.get(name); ch != nil {
		return ch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.chans[name]
	if ch == nil {
		ch = &channel[M]{name: name, members: make(map[string]*M)}
		r.chans[name] = ch
	}
	return ch
}

// dropIfEmpty removes ch from the registry if it has no members. Under ch.mu
// (write-locked).
func (r *registry[M]) dropIfEmpty(ch *channel[M]) {
	if len(ch.members) > 0 {
		return
	}
	ch.dead = true
	r.mu.Lock()
	if r.chans[ch.name] == ch {
		delete(r.chans, ch.name)
	}
	r.mu.Unlock()
}

// occupancy returns the number of members of channel name.
func (r *registry[M]) occupancy(name string) int {
	ch := r.get(name)
	if ch == nil {
		return 0
	}
	ch.mu.RLock()
	n := len(ch.members)
	ch.mu.RUnlock()
	return n
}

// page returns the occupancy of channel name and up to limit of its uuids,
// skipping the first offset in map order.
func (r *registry[M]) page(name string, offset, limit int) (int, []string) {
	ch := r.get(name)
	if ch == nil {
		return 0, nil
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	n := len(ch.members)
	if offset >= n {
		return n, []string{}
	}
	out := make([]string, 0, min(limit, n-offset))
	i := 0
	for uuid := range ch.members {
		if i >= offset {
			out = append(out, uuid)
			if len(out) == limit {
				break
			}
		}
		i++
	}
	return n, out
}

// each calls fn for every member of every channel, with the channel locked.
func (r *registry[M]) each(fn func(*M)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ch := range r.chans {
		ch.mu.Lock()
		for _, m := range ch.members {
			fn(m)
		}
		ch.mu.Unlock()
	}
}

// hub fans events out to subscriptions, indexed by channel.
type hub struct {
	n         atomic.Int32 // open subscriptions, read without mu
	mu        sync.RWMutex
	all       []*Subscription            // subscriptions to every channel; under mu
	byChannel map[string][]*Subscription // the others; under mu
	closed    bool                       // under mu
	done      chan struct{}              // closed by close: releases blocked publishers
	closeOnce sync.Once
}

func newHub() hub { return hub{done: make(chan struct{})} }

// Subscription receives the events of some channels on a buffered Go channel.
// It is safe for concurrent use. Events blocks the publisher while its buffer
// is full: nothing is dropped.
type Subscription struct {
	h        *hub
	channels []string
	c        chan events.Event
	done     chan struct{}
	once     sync.Once
}

// Events returns the channel on which the subscription's events arrive. It is
// closed by Close.
func (s *Subscription) Events() <-chan events.Event { return s.c }

// Close unsubscribes and closes the Events channel. It is idempotent.
func (s *Subscription) Close() {
	s.once.Do(func() {
		close(s.done) // releases publishers blocked on a full buffer
		s.h.remove(s) // waits for publishers that still see s
		close(s.c)
	})
}

func (h *hub) subscribe(channels []string, buffer int) (*Subscription, error) {
	if buffer <= 0 {
		return nil, errors.New("baseline: buffer must be positive")
	}
	s := &Subscription{
		h:        h,
		channels: slices.Compact(slices.Sorted(slices.Values(channels))),
		c:        make(chan events.Event, buffer),
		done:     make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.byChannel == nil {
		h.byChannel = make(map[string][]*Subscription)
	}
	if len(s.channels) == 0 {
		h.all = append(h.all, s)
	}
	for _, name := range s.channels {
		h.byChannel[name] = append(h.byChannel[name], s)
	}
	h.n.Add(1)
	return s, nil
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	drop := func(list []*Subscription) []*Subscription {
		for i, x := range list {
			if x == s {
				return append(list[:i:i], list[i+1:]...)
			}
		}
		return list
	}
	before := len(h.all)
	h.all = drop(h.all)
	found := len(h.all) < before
	for _, name := range s.channels {
		if list := h.byChannel[name]; len(list) > 0 {
			n := len(list)
			if list = drop(list); len(list) < n {
				found = true
			}
			if len(list) == 0 {
				delete(h.byChannel, name)
			} else {
				h.byChannel[name] = list
			}
		}
	}
	if found {
		h.n.Add(-1)
	}
}

// publish delivers an event to every subscription that matches channel. The
// caller holds the channel's lock, so that a channel's events come out in the
// order its changes were applied (as the engine's do); publish blocks while a
// matching subscription's buffer is full, and the channel stays locked
// meanwhile.
func (h *hub) publish(a events.Action, channel, uuid string, occupancy int) {
	if h.n.Load() == 0 {
		return
	}
	ev := events.Event{
		Action:    a,
		SubKey:    SubKey,
		Channel:   channel,
		UUID:      uuid,
		Occupancy: occupancy,
		Time:      time.Now(),
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.all {
		s.send(ev)
	}
	for _, s := range h.byChannel[channel] {
		s.send(ev)
	}
}

func (s *Subscription) send(ev events.Event) {
	select {
	case s.c <- ev:
	case <-s.done:
	case <-s.h.done:
	}
}

// close closes every subscription.
func (h *hub) close() {
	h.closeOnce.Do(func() { close(h.done) })
	h.mu.Lock()
	h.closed = true
	subs := append([]*Subscription(nil), h.all...)
	for _, list := range h.byChannel {
		subs = append(subs, list...)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// clock is a monotonic clock in nanoseconds since its start.
type clock struct{ start time.Time }

func newClock() clock { return clock{start: time.Now()} }

func (c clock) now() int64 { return int64(time.Since(c.start)) }
