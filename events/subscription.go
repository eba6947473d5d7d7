package events

import (
	"sync"
	"sync/atomic"
)

// minRing is the first allocation of a subscription's buffer.
const minRing = 16

// keepRing is how many times its limit a Block subscription's buffer may
// have grown to and still be kept once it empties. A subscriber that lags at
// the edge of its buffer, over and back again and again, then reuses one
// buffer instead of growing a new one, from minRing, each time; a buffer that
// grew further is given back when it empties.
const keepRing = 2

// maxDirect bounds the capacity of a subscription's Events channel: half its
// Buffer, at most maxDirect events. The channel is allocated up front, so
// the bound keeps a subscription's fixed cost to a few KiB.
const maxDirect = 32

// directCap returns the capacity of the Events channel of a subscription
// whose Options.Buffer is buffer.
func directCap(buffer int) int { return min(buffer/2, maxDirect) }

// Subscription receives the events that match its filter, in strictly
// increasing timetoken order per sub key. Create it with Bus.Subscribe.
//
// A Subscription is safe for concurrent use and must not be copied. Its
// Options.Buffer events are held in two places: the Events channel, buffered
// (cap(Events()) events: half of Options.Buffer, at most 32), and behind it a
// buffer that grows with use. A publisher hands an event straight to the
// channel while nothing waits behind it and the channel has room; otherwise
// it appends the event to the buffer, under the subscription's lock, and the
// subscription's one goroutine (the pump) moves events from there to the
// channel, holding one in hand while the channel is full. Read Events on a
// goroutine of your own; with the Block policy, read promptly (see Bus.Wait).
type Subscription struct {
	bus    *Bus
	filter Filter // normalized; immutable
	policy Policy
	// limit is the size of the buffer behind the Events channel:
	// Options.Buffer less the channel's capacity.
	limit int

	out    chan Event    // buffered, directCap; closed by the pump when it exits
	wake   chan struct{} // capacity 1: the buffer became non-empty
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the pump has exited

	mu sync.Mutex // guards the fields below
	// ring is a circular buffer holding n events from head. It grows with use:
	// up to limit for DropOldest, without bound for Block (and then, once
	// empty, it is kept only up to keepRing*limit).
	ring    []Event
	head, n int
	// handing is set while the pump holds an event taken from ring that it
	// has not handed to out yet. While it is set or ring holds events,
	// publishers append to ring, so that out receives events in order.
	handing bool
	gap     uint64 // events dropped since the pump last took one
	over    bool   // Block: n > limit, counted in the bus's pressure
	closed  bool

	dropped   atomic.Uint64 // total dropped; written under mu
	closeOnce sync.Once
}

func newSubscription(b *Bus, f Filter, o Options) *Subscription {
	return &Subscription{
		bus:    b,
		filter: f,
		policy: o.Policy,
		limit:  o.Buffer - directCap(o.Buffer),
		out:    make(chan Event, directCap(o.Buffer)),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
}

// Events returns the channel the subscription's events arrive on. It is
// closed after Close of the subscription or of the bus; events still buffered
// then, in the channel or behind it, are discarded.
func (s *Subscription) Events() <-chan Event {
	return s.out
}

// Dropped returns the number of events this subscription has dropped so far
// (DropOldest policy). It is always 0 with the Block policy.
func (s *Subscription) Dropped() uint64 {
	return s.dropped.Load()
}

// Close unsubscribes, discards the buffered events and closes the Events
// channel. It returns promptly, also while the pump waits for a reader, once
// the subscription's goroutine has exited. Close is idempotent and safe to call
// from any goroutine, also while events are being published.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.ring, s.head, s.n, s.gap = nil, 0, 0, 0
		over := s.over
		s.over = false
		s.mu.Unlock()
		if over {
			s.bus.releasePressure()
		}
		close(s.done)
		s.bus.remove(s)
	})
	<-s.exited
}

// pushLocked hands a copy of *ev to the Events channel if nothing waits
// before it and the channel has room, and otherwise appends it to the buffer,
// applying the policy when that is full. It runs on the publisher's
// goroutine, under s.mu, and never blocks.
func (s *Subscription) pushLocked(ev *Event) {
	if s.closed {
		return
	}
	if s.n == 0 && !s.handing {
		// Nothing waits, so no gap is pending either: a drop happens only
		// in a full buffer, and the gap goes out with the event after it.
		e := *ev
		e.Dropped = 0
		select {
		case s.out <- e:
			return
		default: // the channel is full: wait behind it
		}
	}
	switch {
	case s.n == s.limit && s.policy == DropOldest:
		s.ring[s.head] = Event{}
		s.head = s.at(1)
		s.n--
		s.gap++
		s.dropped.Add(1)
	case s.n == len(s.ring):
		s.grow()
	}
	s.ring[s.at(s.n)] = *ev
	s.n++
	if s.n == 1 && !s.handing {
		select {
		case s.wake <- struct{}{}:
		default: // the pump has a wake-up pending already
		}
	}
	if s.policy == Block && !s.over && s.n > s.limit {
		s.over = true
		s.bus.addPressure()
	}
}

// at returns the index in the ring of the event i places after the head,
// for i at most len(s.ring): a compare instead of a division.
func (s *Subscription) at(i int) int {
	j := s.head + i
	if j >= len(s.ring) {
		j -= len(s.ring)
	}
	return j
}

// grow enlarges the full ring by doubling, stopping once at limit: only a
// Block buffer, which never drops, grows past it.
func (s *Subscription) grow() {
	size := max(2*len(s.ring), minRing)
	if len(s.ring) < s.limit {
		size = min(size, s.limit)
	}
	ring := make([]Event, size)
	k := copy(ring, s.ring[s.head:])
	copy(ring[k:], s.ring[:s.head])
	s.ring, s.head = ring, 0
}

// pump moves events from the buffer to the Events channel until Close. It is
// the subscription's only goroutine. On its way out it empties the channel,
// so that a reader finds it closed rather than receive what Close discarded.
//
// It takes from the buffer, under one hold of the lock, as many events as
// the channel has room for (at most pumpBatch), or one when it has none, and
// hands each to the channel with a send that does not wait before it waits
// in a select that Close ends. So it holds more than one event only while
// they fit in the channel, and a full channel finds it holding one, as the
// policies count on.
func (s *Subscription) pump() {
	defer s.bus.pumps.Done()
	defer close(s.exited)
	defer func() {
		for {
			select {
			case <-s.out:
			default:
				close(s.out)
				return
			}
		}
	}()
	var batch [pumpBatch]Event
	for {
		n, ok := s.next(&batch)
		if !ok {
			return
		}
		for i := range batch[:n] {
			select {
			case s.out <- batch[i]:
				continue
			default:
			}
			select {
			case s.out <- batch[i]:
			case <-s.done:
				return
			}
		}
		clear(batch[:n]) // let go of State and the delta lists
	}
}

// pumpBatch is the most events the pump takes from the buffer at once.
const pumpBatch = 8

// next waits for events in the buffer and takes into batch as many as the
// Events channel has room for, at least one, marking any gap before the
// first, and sets handing. While it waits, handing is clear: the events the
// pump took last are in the channel by then. It returns how many it took,
// and false once the subscription is closed.
//
// Only the pump sends to the channel while handing is set or the buffer
// holds events, and it is here: the room it counts can only grow until it
// sends.
func (s *Subscription) next(batch *[pumpBatch]Event) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n == 0 && !s.closed {
		s.handing = false
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.done:
		}
		s.mu.Lock()
	}
	if s.closed {
		return 0, false
	}
	k := max(1, min(s.n, len(batch), cap(s.out)-len(s.out)))
	for i := range k {
		batch[i] = s.ring[s.head]
		batch[i].Dropped = 0
		s.ring[s.head] = Event{} // let the buffer forget State and the delta lists
		s.head = s.at(1)
	}
	s.n -= k
	s.handing = true
	// Drops happen at the head of the buffer, so no gap falls between the
	// events taken together: the first carries the gap.
	batch[0].Dropped, s.gap = s.gap, 0
	if s.over && s.n <= s.limit {
		s.over = false
		s.bus.releasePressure()
	}
	if s.n == 0 && len(s.ring) > keepRing*s.limit {
		// A Block buffer that overflowed far: give the surplus back.
		s.ring, s.head = nil, 0
	}
	return k, true
}
