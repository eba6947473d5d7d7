// Package engine is the presence engine: keyspaces of channels and their
// members, deadlines refreshed by heartbeats, expiry, state, channel groups,
// and the queries Here Now and Where Now, with PubNub Presence semantics.
//
// An Engine is fed heartbeats. A uuid not yet present on a channel joins it
// (a join event); a present one has its deadline moved (no event); one that
// stops heartbeating times out (a timeout event) within one Config.Tick after
// its deadline. Leave, SetState, GetState, HereNow, WhereNow and the channel
// group calls complete the API. Events reach subscribers through Subscribe.
//
// # Cost
//
// A heartbeat of a present member is one lock-free lookup of the uuid and one
// compare-and-swap of its deadline: it takes no lock, touches no timer and does
// not allocate. A membership costs about 72 bytes of heap besides the uuid and
// channel strings, which are stored once each. Expiry is lazy: members sit in
// coarse slots of a timing wheel and are looked at once per timeout period,
// not once per heartbeat.
//
// # Requests
//
// Calls take request structs by value. The engine never keeps a request's
// slices or maps, nor its strings: what it stores, it copies. Callers may reuse
// their buffers as soon as a call returns.
//
// # Concurrency
//
// An Engine is safe for concurrent use. Per channel, membership changes and
// their events are serialized, so replaying a channel's events from empty
// gives each event's occupancy and ends at what HereNow returns. Queries take
// only the read lock of the channels they read.
//
// # Testing with virtual time
//
// An Engine created inside a testing/synctest bubble runs on the bubble's
// clock: its expiry, its interval events and the times on its events all
// follow it. So a test of code that uses an Engine waits out a presence
// timeout without waiting: time.Sleep returns at once, and a receive of the
// timeout event lets the clock run on to the expiry, which comes at the
// member's deadline or at most one Tick (and 1 ms) after it, as on the real
// clock. Create the Engine inside the bubble (one created outside runs on
// the real clock), and Close it before the bubble ends, with the goroutines
// it started (synctest.Test fails while any are left):
//
//	func TestLobbyTimeout(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			e, err := engine.New(engine.Config{}) // created in the bubble: on its clock
//			if err != nil {
//				t.Fatal(err)
//			}
//			defer e.Close() // before the bubble ends, with the goroutines it started
//			sub, err := e.Subscribe(events.Filter{SubKey: "app", Channels: []string{"lobby"}}, events.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			defer sub.Close()
//
//			start := time.Now()
//			hb := engine.HeartbeatRequest{SubKey: "app", UUID: "alice", Channels: []string{"lobby"}, Timeout: time.Minute}
//			if _, err := e.Heartbeat(context.Background(), hb); err != nil {
//				t.Fatal(err)
//			}
//			if ev := <-sub.Events(); ev.Action != events.Join {
//				t.Fatalf("got %s, want alice's join", ev.Action)
//			}
//
//			time.Sleep(59 * time.Second) // returns at once: the bubble's clock jumps
//			if n, _ := e.Occupancy("app", "lobby"); n != 1 {
//				t.Fatalf("occupancy %d a second before the deadline, want 1", n)
//			}
//
//			ev := <-sub.Events() // the clock runs on to the expiry
//			if ev.Action != events.Timeout || ev.UUID != "alice" || ev.Occupancy != 0 {
//				t.Fatalf("got %s of %q, occupancy %d; want alice's timeout, occupancy 0", ev.Action, ev.UUID, ev.Occupancy)
//			}
//			// At the deadline, a minute after the heartbeat, or at most one Tick
//			// (1 s by default, plus 1 ms of timer resolution) after it.
//			if d := time.Since(start); d < time.Minute || d > time.Minute+engine.DefaultTick+time.Millisecond {
//				t.Fatalf("timed out %v after the heartbeat, want 1m0s to 1m1.001s", d)
//			}
//		})
//	}
//
// The engine's own tests run this way, many goroutines racing heartbeats,
// leaves and expiry through minutes of simulated time in well under a second.
// # Restarts
//
// Snapshot writes everything an engine holds to an io.Writer while it
// serves, and Restore reads it back into a new engine before that one
// serves, so that presence survives a restart. Deadlines are saved as
// wall-clock instants: a member whose deadline passed while the process was
// down times out right after the restore, the others keep the time they had
// left, and restored members send no join.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
	"github.com/presenced/presence/wheel"
)

// Engine is an in-memory presence engine. Create one with New and release it
// with Close. An Engine is safe for concurrent use; several may live in one
// process.
type Engine struct {
	cfg   Config
	bus   *events.Bus
	wheel *wheel.Wheel[*member]

	keyspaces *index.Table[keyspace]
	first     atomic.Pointer[keyspace] // a keyspace of keyspaces, found without hashing (see keyspace)

	// reserved counts memberships plus joins in flight; bounded by MaxMembers.
	reserved atomic.Int64

	// Striped counters: joins and leaves on different cores do not contend.
	// The number of members is joins less leaves and timeouts; joins, leaves,
	// timeouts and their events are counted after the channel's lock.
	count *counters

	// Channels in interval mode, flushed every Interval by the interval loop.
	ivMu    sync.Mutex
	ivChans map[*channel]struct{}

	// restoring serializes Restore calls.
	restoring sync.Mutex

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      sync.WaitGroup
}

// New returns a running Engine configured by cfg (see Config for the
// defaults of zero fields). It starts the expiry workers and the interval
// loop; Close stops them.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:       cfg,
		bus:       events.NewBus(events.BusConfig{Now: cfg.Now}),
		keyspaces: index.New(func(ks *keyspace) string { return ks.name }, 16),
		count:     newCounters(),
		ivChans:   make(map[*channel]struct{}),
		stop:      make(chan struct{}),
	}
	e.wheel, err = wheel.New(wheel.Config{Tick: cfg.Tick, Workers: cfg.ExpiryWorkers}, e.expire)
	if err != nil {
		e.bus.Close()
		return nil, err
	}
	e.done.Add(1)
	go e.intervalLoop()
	return e, nil
}

// Close stops the engine: it closes every subscription, stops expiry and the
// interval loop, and waits for every goroutine the engine started. Afterwards
// every method returns ErrClosed, except Snapshot, which saves what the
// engine held when it closed. Close is idempotent and safe to call while
// other methods run; it returns nil.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.bus.Close() // releases expiry workers waiting on back-pressure
		e.wheel.Close()
		close(e.stop)
		e.done.Wait()
	})
	return nil
}

// Config returns the engine's configuration, with the defaults of zero fields
// filled in.
func (e *Engine) Config() Config { return e.cfg }

// Subscribe returns a subscription to the events that match f, buffered and
// with the full-buffer policy of o (o.Buffer zero means Config.EventBuffer).
// The caller reads Events() on its own goroutine and calls Close when done.
func (e *Engine) Subscribe(f events.Filter, o events.Options) (*events.Subscription, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if o.Buffer == 0 {
		o.Buffer = e.cfg.EventBuffer
	}
	sub, err := e.bus.Subscribe(f, o)
	if errors.Is(err, events.ErrClosed) {
		return nil, ErrClosed // Close ran meanwhile
	}
	return sub, err
}

// Stats is a snapshot of an Engine's counters.
type Stats struct {
	Members    int64 // (uuid, channel) memberships present
	Channels   int64 // channels with at least one member
	UUIDs      int64 // distinct (sub key, uuid) pairs present somewhere
	Heartbeats uint64
	Joins      uint64
	Leaves     uint64
	Timeouts   uint64
	// Restored counts the memberships Restore brought back: present without
	// a join.
	Restored uint64
	// EventsPublished counts the events the engine emitted, whether or not
	// anyone subscribed to them; EventsDropped counts events dropped by
	// subscriptions with the DropOldest policy.
	EventsPublished uint64
	EventsDropped   uint64
}

// Stats returns the engine's counters. It takes no lock: while calls are in
// flight the figures may be off by those calls; once they return, they are
// exact.
func (e *Engine) Stats() Stats {
	var uuids int64
	e.keyspaces.Range(func(ks *keyspace) bool {
		uuids += int64(ks.clients.Len())
		return true
	})
	bs := e.bus.Stats()
	// Members is derived. Removals are read first, so that joins counted
	// meanwhile can only raise it; joins and removals are both counted after
	// their channel's lock, so a leave racing a join may be counted first,
	// and the figure is clamped at 0. At rest it is exact.
	timeouts, leaves := e.count.value(cTimeouts), e.count.value(cLeaves)
	joins, restored := e.count.value(cJoins), e.count.value(cRestored)
	return Stats{
		Members:         max(joins+restored-leaves-timeouts, 0),
		Channels:        e.count.value(cChannels),
		UUIDs:           uuids,
		Heartbeats:      uint64(e.count.value(cHeartbeats)),
		Joins:           uint64(joins),
		Leaves:          uint64(leaves),
		Timeouts:        uint64(timeouts),
		Restored:        uint64(restored),
		EventsPublished: uint64(e.count.value(cEvents)),
		EventsDropped:   bs.Dropped,
	}
}

// keyspace returns the keyspace of subKey, creating it if create is set; nil
// when it does not exist and create is not set.
//
// The first keyspace it finds is kept in e.first, and found there by a
// comparison of names instead of a hashed lookup: most servers use one sub
// key. The sweep clears e.first when it drops that keyspace, and the next
// keyspace found takes its place. Until then, a call may get the keyspace
// the sweep is dropping, as it may from the index: see liveKeyspace.
func (e *Engine) keyspace(subKey string, create bool) *keyspace {
	if ks := e.first.Load(); ks != nil && ks.name == subKey {
		return ks
	}
	ks := e.keyspaces.Get(subKey)
	if ks == nil {
		if !create {
			return nil
		}
		ks, _ = e.keyspaces.GetOrCreate(subKey, func() *keyspace { return newKeyspace(strings.Clone(subKey)) })
	}
	if e.first.Load() == nil && e.first.CompareAndSwap(nil, ks) && ks.pins.sealed.Load() {
		// The sweep may have dropped ks, and cleared e.first, before the
		// swap: it seals a keyspace before it drops it.
		e.first.CompareAndSwap(ks, nil)
	}
	return ks
}

// liveKeyspace returns the keyspace of subKey, created if need be, pinned
// against the sweep: the caller may add to it, and must unpin it with the
// token. ks, if not nil, is the keyspace of subKey as the caller looked it up
// earlier: it is returned if it can still be pinned, which a keyspace the
// sweep has dropped cannot (it stays sealed).
func (e *Engine) liveKeyspace(subKey string, ks *keyspace) (*keyspace, *stripeToken) {
	for {
		if ks == nil {
			ks = e.keyspace(subKey, true)
		}
		if tok, ok := ks.pins.pin(e.count); ok {
			return ks, tok
		}
		ks = nil
		runtime.Gosched() // the sweep is dropping it, or finding it in use
	}
}

// sweep drops the keyspaces that hold nothing. It runs on the interval loop.
func (e *Engine) sweep() {
	e.keyspaces.Range(func(ks *keyspace) bool {
		if ks.empty() && ks.pins.seal() {
			// Sealed with no pin held: nothing can be added any more.
			if ks.empty() {
				e.keyspaces.DeleteIf(ks.name, ks)
				e.first.CompareAndSwap(ks, nil)
			} else {
				ks.pins.unseal()
			}
		}
		return true
	})
}

// backpressure waits, outside every engine lock, while a subscriber with the
// Block policy lags behind.
func (e *Engine) backpressure(ctx context.Context) error {
	if err := e.bus.Wait(ctx); err != nil {
		if e.closed.Load() {
			return ErrClosed
		}
		return err
	}
	return nil
}

// emit counts an event of ch into t and publishes it, if anyone listens. ev
// holds the action and what goes with it (uuid, state, deltas); emit adds
// the sub key, the channel and the channel's occupancy. Under ch.mu, so that
// a channel's events come out in the order of its changes.
//
// It is the one place where the engine's events are counted: every call
// counts into a counts of its own and adds it to the engine's counters once,
// after its locks (see counts).
func (e *Engine) emit(t *counts, ch *channel, ev *events.Event) {
	t[cEvents]++
	r, ok := e.bus.Route(ch.ks.name, ch.name)
	if !ok {
		return
	}
	ev.SubKey, ev.Channel, ev.Occupancy = ch.ks.name, ch.name, ch.size()
	r.Publish(ev)
}

// announce reports a join, leave or timeout that has just changed ch's
// membership: as its own event in announce mode, or into the channel's deltas
// in interval mode. Under ch.mu, after the change.
func (e *Engine) announce(t *counts, ch *channel, a events.Action, uuid string, state json.RawMessage) {
	occ, limit := ch.size(), e.cfg.AnnounceMax
	switch {
	case ch.deltas == nil && (limit < 0 || occ <= limit):
		e.emit(t, ch, &events.Event{Action: a, UUID: uuid, State: state})
	case ch.deltas == nil: // occupancy just went above AnnounceMax
		ch.deltas = new(events.Deltas)
		e.recordDelta(ch, a, uuid)
		e.ivMu.Lock()
		e.ivChans[ch] = struct{}{}
		e.ivMu.Unlock()
	default:
		e.recordDelta(ch, a, uuid)
		if occ <= limit { // back to announce mode: flush what is pending now
			e.emitInterval(t, ch)
			ch.deltas = nil
			e.ivMu.Lock()
			delete(e.ivChans, ch)
			e.ivMu.Unlock()
		}
	}
}

func (e *Engine) recordDelta(ch *channel, a events.Action, uuid string) {
	if e.cfg.IntervalDeltas {
		ch.deltas.Add(a, uuid)
	}
}

// emitInterval emits ch's interval event with its pending deltas. Under ch.mu.
func (e *Engine) emitInterval(t *counts, ch *channel) {
	ev := events.Event{Action: events.Interval}
	ch.deltas.Take(&ev)
	e.emit(t, ch, &ev)
}
