package baseline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/RussellLuo/timingwheel"

	"github.com/presenced/presence/events"
)

// Shape of the RussellLuo wheel of WheelPerMember: the same as the one the
// engine's wheel package drives (1ms resolution, 512 buckets per level).
const (
	wheelTick = time.Millisecond
	wheelSize = 512
)

// WheelPerMember is the first-pass design with a hierarchical timing wheel
// (github.com/RussellLuo/timingwheel) in place of runtime timers: one wheel
// timer per member, stopped and re-created on every heartbeat. A wheel timer
// fires up to one millisecond early (the wheel's resolution).
//
// A WheelPerMember is safe for concurrent use, but Close must not race other
// calls: RussellLuo's AfterFunc may block forever once its Stop has begun.
type WheelPerMember struct {
	reg    registry[wheelMember]
	hub    hub
	tw     *timingwheel.TimingWheel
	closed atomic.Bool
	once   sync.Once
}

// wheelMember is one (uuid, channel) membership.
type wheelMember struct {
	uuid  string
	mu    sync.Mutex
	gen   uint64             // under mu; counts the timers armed
	timer *timingwheel.Timer // under mu; the current timer
}

// NewWheelPerMember returns an empty WheelPerMember and starts its wheel.
func NewWheelPerMember() *WheelPerMember {
	w := &WheelPerMember{reg: newRegistry[wheelMember](), hub: newHub(), tw: timingwheel.NewTimingWheel(wheelTick, wheelSize)}
	w.tw.Start()
	return w
}

// Heartbeat records that uuid is alive on channels for timeout: it joins the
// channels it is not on (a join event each) and re-arms its timers on the
// others. It returns the number of channels joined.
func (w *WheelPerMember) Heartbeat(uuid string, channels []string, timeout time.Duration) (int, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	joined := 0
	for _, name := range channels {
		if !w.refresh(name, uuid, timeout) && w.join(name, uuid, timeout) {
			joined++
		}
	}
	return joined, nil
}

func (w *WheelPerMember) refresh(name, uuid string, timeout time.Duration) bool {
	ch := w.reg.get(name)
	if ch == nil {
		return false
	}
	ch.mu.RLock()
	m := ch.members[uuid]
	if m != nil {
		w.arm(ch, m, timeout)
	}
	ch.mu.RUnlock()
	return m != nil
}

// arm stops m's timer and starts a new one. Under ch.mu, read or write.
func (w *WheelPerMember) arm(ch *channel[wheelMember], m *wheelMember, timeout time.Duration) {
	m.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.gen++
	gen := m.gen
	m.timer = w.tw.AfterFunc(timeout, func() { w.expire(ch, m, gen) })
	m.mu.Unlock()
}

func (w *WheelPerMember) join(name, uuid string, timeout time.Duration) bool {
	for {
		ch := w.reg.getOrCreate(name)
		ch.mu.Lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		if m := ch.members[uuid]; m != nil {
			w.arm(ch, m, timeout)
			ch.mu.Unlock()
			return false
		}
		m := &wheelMember{uuid: uuid}
		w.arm(ch, m, timeout)
		ch.members[uuid] = m
		w.hub.publish(events.Join, name, uuid, len(ch.members))
		ch.mu.Unlock()
		return true
	}
}

// expire is the callback of m's timer number gen, run on a goroutine of its
// own. A timer re-armed or stopped since is stale and does nothing.
func (w *WheelPerMember) expire(ch *channel[wheelMember], m *wheelMember, gen uint64) {
	ch.mu.Lock()
	if ch.members[m.uuid] != m {
		ch.mu.Unlock()
		return
	}
	m.mu.Lock()
	stale := m.gen != gen
	m.mu.Unlock()
	if stale {
		ch.mu.Unlock()
		return
	}
	delete(ch.members, m.uuid)
	w.reg.dropIfEmpty(ch)
	w.hub.publish(events.Timeout, ch.name, m.uuid, len(ch.members))
	ch.mu.Unlock()
}

// Leave removes uuid from channels, a leave event each, and returns the number
// of channels it was on.
func (w *WheelPerMember) Leave(uuid string, channels []string) (int, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	left := 0
	for _, name := range channels {
		ch := w.reg.get(name)
		if ch == nil {
			continue
		}
		ch.mu.Lock()
		m := ch.members[uuid]
		if m == nil {
			ch.mu.Unlock()
			continue
		}
		m.mu.Lock()
		m.timer.Stop()
		m.gen++ // a callback already on its way finds itself stale
		m.mu.Unlock()
		delete(ch.members, uuid)
		w.reg.dropIfEmpty(ch)
		w.hub.publish(events.Leave, name, uuid, len(ch.members))
		ch.mu.Unlock()
		left++
	}
	return left, nil
}

// Occupancy returns the number of members of channel.
func (w *WheelPerMember) Occupancy(channel string) (int, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	return w.reg.occupancy(channel), nil
}

// HereNow returns the occupancy of channel and up to limit of its uuids from
// the offset-th on, in map order.
func (w *WheelPerMember) HereNow(channel string, offset, limit int) (int, []string, error) {
	if w.closed.Load() {
		return 0, nil, ErrClosed
	}
	occ, uuids := w.reg.page(channel, offset, limit)
	return occ, uuids, nil
}

// Subscribe returns a subscription to the events of channels (all channels if
// none), with a buffer of buffer events.
func (w *WheelPerMember) Subscribe(channels []string, buffer int) (*Subscription, error) {
	if w.closed.Load() {
		return nil, ErrClosed
	}
	return w.hub.subscribe(channels, buffer)
}

// Close stops the wheel and closes every subscription. It is idempotent.
// Timer callbacks already running finish on their own; their events are
// dropped.
func (w *WheelPerMember) Close() error {
	w.once.Do(func() {
		w.closed.Store(true)
		w.hub.close() // first: releases publishers that hold a channel lock
		w.tw.Stop()
	})
	return nil
}
