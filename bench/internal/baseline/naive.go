package baseline

import (
	"sync/atomic"
	"time"

	"github.com/presenced/presence/events"
)

// Naive is the first-pass design: maps of members under RWMutexes and one
// runtime timer per member (time.AfterFunc), reset on every heartbeat.
//
// A Naive is safe for concurrent use, but Close must not race other calls.
type Naive struct {
	reg    registry[naiveMember]
	hub    hub
	clock  clock
	closed atomic.Bool
}

// naiveMember is one (uuid, channel) membership.
type naiveMember struct {
	uuid string
	// deadline is when the member times out (clock ns). A heartbeat stores it
	// before it resets the timer, so a timer that fires for a deadline since
	// moved finds the new one and leaves the member alone.
	deadline atomic.Int64
	timer    *time.Timer
}

// NewNaive returns an empty Naive.
func NewNaive() *Naive {
	return &Naive{reg: newRegistry[naiveMember](), hub: newHub(), clock: newClock()}
}

// Heartbeat records that uuid is alive on channels for timeout: it joins the
// channels it is not on (a join event each) and resets its timers on the
// others. It returns the number of channels joined.
func (n *Naive) Heartbeat(uuid string, channels []string, timeout time.Duration) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	joined := 0
	for _, name := range channels {
		if !n.refresh(name, uuid, timeout) && n.join(name, uuid, timeout) {
			joined++
		}
	}
	return joined, nil
}

// refresh moves the deadline of a present member and reports whether it was
// present.
func (n *Naive) refresh(name, uuid string, timeout time.Duration) bool {
	ch := n.reg.get(name)
	if ch == nil {
		return false
	}
	ch.mu.RLock()
	m := ch.members[uuid]
	if m != nil {
		m.deadline.Store(n.clock.now() + int64(timeout))
		m.timer.Reset(timeout)
	}
	ch.mu.RUnlock()
	return m != nil
}

// join adds uuid to channel name unless it is there already (a racing
// heartbeat added it), and reports whether it joined.
func (n *Naive) join(name, uuid string, timeout time.Duration) bool {
	for {
		ch := n.reg.getOrCreate(name)
		ch.mu.Lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		if m := ch.members[uuid]; m != nil {
			m.deadline.Store(n.clock.now() + int64(timeout))
			m.timer.Reset(timeout)
			ch.mu.Unlock()
			return false
		}
		m := &naiveMember{uuid: uuid}
		m.deadline.Store(n.clock.now() + int64(timeout))
		m.timer = time.AfterFunc(timeout, func() { n.expire(ch, m) })
		ch.members[uuid] = m
		n.hub.publish(events.Join, name, uuid, len(ch.members))
		ch.mu.Unlock()
		return true
	}
}

// expire is a member's timer callback, run on a goroutine of its own.
func (n *Naive) expire(ch *channel[naiveMember], m *naiveMember) {
	ch.mu.Lock()
	if ch.members[m.uuid] != m || m.deadline.Load() > n.clock.now() {
		ch.mu.Unlock() // left, or refreshed since the timer fired
		return
	}
	delete(ch.members, m.uuid)
	n.reg.dropIfEmpty(ch)
	n.hub.publish(events.Timeout, ch.name, m.uuid, len(ch.members))
	ch.mu.Unlock()
}

// Leave removes uuid from channels, a leave event each, and returns the number
// of channels it was on.
func (n *Naive) Leave(uuid string, channels []string) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	left := 0
	for _, name := range channels {
		ch := n.reg.get(name)
		if ch == nil {
			continue
		}
		ch.mu.Lock()
		m := ch.members[uuid]
		if m == nil {
			ch.mu.Unlock()
			continue
		}
		m.timer.Stop()
		delete(ch.members, uuid)
		n.reg.dropIfEmpty(ch)
		n.hub.publish(events.Leave, name, uuid, len(ch.members))
		ch.mu.Unlock()
		left++
	}
	return left, nil
}

// Occupancy returns the number of members of channel.
func (n *Naive) Occupancy(channel string) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	return n.reg.occupancy(channel), nil
}

// HereNow returns the occupancy of channel and up to limit of its uuids from
// the offset-th on, in map order.
func (n *Naive) HereNow(channel string, offset, limit int) (int, []string, error) {
	if n.closed.Load() {
		return 0, nil, ErrClosed
	}
	occ, uuids := n.reg.page(channel, offset, limit)
	return occ, uuids, nil
}

// Subscribe returns a subscription to the events of channels (all channels if
// none), with a buffer of buffer events.
func (n *Naive) Subscribe(channels []string, buffer int) (*Subscription, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	return n.hub.subscribe(channels, buffer)
}

// Close stops every timer and closes every subscription. It is idempotent.
// Timer callbacks already running finish on their own; their events are
// dropped.
func (n *Naive) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	n.hub.close() // first: releases publishers that hold a channel lock
	n.reg.each(func(m *naiveMember) { m.timer.Stop() })
	return nil
}
