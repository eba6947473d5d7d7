// Package wheel tells its owner when items may have expired, without one timer,
// goroutine or heap object per item.
//
// # Slots
//
// A Wheel has its own monotonic clock, [Wheel.Now], in nanoseconds since [New].
// The clock is cut into slots of one Tick: slot k fires at wheel time k*Tick and
// holds the deadlines in ((k-1)*Tick, k*Tick]. [Wheel.Schedule] rounds a deadline
// up to its slot, so an item is never handed over before its deadline, and at
// most one Tick (plus the timer's 1ms resolution and scheduling latency) after
// it. A slot costs one RussellLuo timer (and a runtime backstop, see Timers)
// however many items it holds; the items themselves
// sit in chunked arrays, about 8 bytes each for a pointer type.
//
// When a slot fires, its items are handed to the expire function given to New,
// in batches of at most Config.BatchSize. The wheel knows nothing of what an item
// means and has no cancel: an item whose deadline has since moved is still handed
// over. The owner re-checks each item and schedules it again if it is not due.
//
// # Concurrency
//
// A Wheel is safe for concurrent use. expire runs on one of Config.Workers
// goroutines that the wheel owns, with no lock of the wheel held. Several workers
// may run expire at the same time, on different batches of the same or of
// different slots, so expire must be safe for concurrent use. expire may call
// Schedule (to put back an item whose deadline moved) but must not call Close.
//
// # Timers
//
// Slots are driven by github.com/RussellLuo/timingwheel with a 1ms tick, one
// timer per non-empty slot, armed when the slot gets its first item. Two of its
// habits are hidden.
//
// It follows the wall clock truncated to milliseconds, so a timer may fire up to
// 1ms early, or early by a step of the wall clock. The wheel asks for the first
// wall-clock millisecond at or after the slot's time, and when a timer fires it
// checks its own monotonic clock: a slot whose time has not come is not handed
// over but waits out the rest on a runtime timer (time.AfterFunc, which follows
// the monotonic clock), so a stepped wall clock costs one extra timer per slot,
// never an early expiry or a busy loop. A backward step of the wall clock can
// still make RussellLuo late by the step; a runtime timer one Tick after each
// slot's time, stopped unused when RussellLuo is on time, bounds the lateness
// to one more Tick.
//
// It runs each timer's callback in a new goroutine. The callback only queues the
// slot and wakes a worker, so expiry runs on a bounded number of goroutines: the
// workers, the two of the RussellLuo wheel, and callbacks that exit at once.
//
// Everything runs on the clocks of package time, so a Wheel created inside a
// testing/synctest bubble runs on the bubble's virtual time.
package wheel

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RussellLuo/timingwheel"
)

// ErrInvalidConfig is wrapped by the errors New returns for a bad Config.
var ErrInvalidConfig = errors.New("wheel: invalid config")

const (
	defaultTick      = time.Second
	minTick          = time.Millisecond
	defaultBatchSize = 1024
	maxWorkers       = 4 // default cap on Workers

	// twTick and twSize shape the RussellLuo wheel: 1ms resolution, 512ms per
	// level before its overflow wheels take over.
	twTick = time.Millisecond
	twSize = 512

	// maxArm caps the delay of a RussellLuo timer, which keeps its wall-clock
	// arithmetic far from overflow. A slot further away fires early and waits
	// out the rest on a runtime timer.
	maxArm = 24 * time.Hour
)

// Config configures a Wheel. The zero value is usable.
type Config struct {
	// Tick is the width of a slot: an item fires no earlier than its deadline and
	// at most one Tick (plus 1ms of timer resolution) after it. Zero means 1s. It must
	// be at least 1ms.
	Tick time.Duration

	// Workers is the number of goroutines that run expire. Zero means
	// min(GOMAXPROCS, 4). It must not be negative.
	Workers int

	// BatchSize is the maximum number of items handed to one expire call. Zero
	// means 1024. It must not be negative.
	BatchSize int
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Tick == 0:
		c.Tick = defaultTick
	case c.Tick < minTick:
		return c, fmt.Errorf("%w: Tick %v is below %v", ErrInvalidConfig, c.Tick, minTick)
	}
	switch {
	case c.Workers == 0:
		c.Workers = min(runtime.GOMAXPROCS(0), maxWorkers)
	case c.Workers < 0:
		return c, fmt.Errorf("%w: Workers %d is negative", ErrInvalidConfig, c.Workers)
	}
	switch {
	case c.BatchSize == 0:
		c.BatchSize = defaultBatchSize
	case c.BatchSize < 0:
		return c, fmt.Errorf("%w: BatchSize %d is negative", ErrInvalidConfig, c.BatchSize)
	}
	return c, nil
}

// Slot identifies a slot: slot k fires at wheel time k*Tick and holds the
// deadlines in ((k-1)*Tick, k*Tick].
type Slot uint64

// Batch is the work of one expire call.
type Batch[T any] struct {
	// Slot is the slot the items were scheduled in. Every item of a batch comes
	// from the same slot.
	Slot Slot
	// Now is the wheel clock (ns) when the batch was handed over; it is at least
	// the slot's time.
	Now int64
	// Items are at most Config.BatchSize items, each handed over exactly once.
	// The slice is only valid during the call: the wheel reuses it. The
	// callback may write to it meanwhile, as scratch space.
	Items []T
}

// Wheel holds items in coarse slots by deadline and hands each slot's items to
// an expire function once the slot's time has passed.
//
// A Wheel is safe for concurrent use. Create it with New and stop it with Close.
type Wheel[T any] struct {
	tick   int64 // ns
	batch  int
	expire func(Batch[T])
	start  time.Time
	tw     *timingwheel.TimingWheel
	pool   chunkPool[T]

	wake      chan struct{}  // capacity 1: work may be queued
	done      chan struct{}  // closed by Close: workers return
	wg        sync.WaitGroup // workers and armed timers' callbacks
	closeOnce sync.Once

	held  atomic.Int64 // Len
	armed atomic.Int64 // RussellLuo timers armed so far; tests read it

	noRussell bool // tests: arm no RussellLuo timer, as if it never fired

	mu        sync.Mutex
	closed    bool
	slots     map[Slot]*slot[T] // slots not yet detached
	lastK     Slot              // lastS's number
	lastS     *slot[T]          // last slot scheduled into, if still in slots
	ready     []Slot            // fired slots, oldest at readyHead
	readyHead int
	runs      []run[T] // detached items not yet handed over
}

// New starts a Wheel that hands the items of each fired slot to expire. expire
// runs on the wheel's worker goroutines with no lock of the wheel held, possibly
// on several workers at once. It may call Schedule but must not call Close.
//
// New returns an error wrapping ErrInvalidConfig, naming the field, if cfg is
// invalid or expire is nil.
func New[T any](cfg Config, expire func(Batch[T])) (*Wheel[T], error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if expire == nil {
		return nil, fmt.Errorf("%w: expire is nil", ErrInvalidConfig)
	}
	w := &Wheel[T]{
		tick:   int64(cfg.Tick),
		batch:  cfg.BatchSize,
		expire: expire,
		start:  time.Now(),
		tw:     timingwheel.NewTimingWheel(twTick, twSize),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		slots:  make(map[Slot]*slot[T]),
	}
	w.tw.Start()
	w.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go w.work()
	}
	return w, nil
}

// Now returns the wheel clock: monotonic nanoseconds since New. It never goes
// back. Deadlines given to Schedule are on this clock.
func (w *Wheel[T]) Now() int64 {
	return int64(time.Since(w.start))
}

// Tick returns the width of a slot.
func (w *Wheel[T]) Tick() time.Duration {
	return time.Duration(w.tick)
}

// SlotFor returns the slot of deadline at: ceil(at/Tick), at least 1.
func (w *Wheel[T]) SlotFor(at int64) Slot {
	if at <= 0 {
		return 1
	}
	k := at / w.tick
	if at%w.tick != 0 {
		k++
	}
	return Slot(k)
}

// slotTime returns the wheel time at which slot k fires, saturated at
// math.MaxInt64.
func (w *Wheel[T]) slotTime(k Slot) int64 {
	if k > Slot(math.MaxInt64/w.tick) {
		return math.MaxInt64
	}
	return int64(k) * w.tick
}

// Schedule puts v in the slot of deadline at (wheel clock, ns) and returns that
// slot. v is handed to expire once, no earlier than the slot's time: promptly if
// that time has already passed, including when the slot already fired or is
// being handed over right now.
//
// Schedule is safe for concurrent use, also from inside expire. After Close it
// drops v and still returns the slot.
func (w *Wheel[T]) Schedule(v T, at int64) Slot {
	k := w.SlotFor(at)
	wake := false
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return k
	}
	s := w.lastS
	if s == nil || w.lastK != k {
		s = w.slots[k]
		if s == nil {
			s, wake = w.open(k)
		}
		w.lastK, w.lastS = k, s
	}
	s.push(v, &w.pool)
	w.held.Add(1)
	w.mu.Unlock()
	if wake {
		w.signal()
	}
	return k
}

// Len returns the number of items held: scheduled and not yet handed to expire.
func (w *Wheel[T]) Len() int {
	return int(w.held.Load())
}

// Close stops the wheel and drops the items it holds. It waits for every
// goroutine the wheel started: the RussellLuo wheel, timer callbacks, and the
// workers, which finish the expire call they are in. After Close returns,
// expire is not called again.
//
// Close is idempotent and safe to call concurrently with every other method,
// but it must not be called from inside expire: it would wait for itself.
func (w *Wheel[T]) Close() {
	w.closeOnce.Do(w.shutdown)
}

func (w *Wheel[T]) shutdown() {
	w.mu.Lock()
	w.closed = true
	slots := w.slots
	dropped := 0
	for _, s := range slots {
		dropped += s.n
	}
	for _, r := range w.runs {
		dropped += r.n
	}
	w.held.Add(-int64(dropped))
	w.slots, w.lastS, w.ready, w.readyHead, w.runs = nil, nil, nil, 0, nil
	w.mu.Unlock()

	// RussellLuo's AfterFunc can block forever once Stop has begun. It is only
	// called under w.mu while !w.closed, so none is running or can start now.
	w.tw.Stop()
	for _, s := range slots {
		// A stopped timer's callback will never run to call Done.
		if s.timer != nil && s.timer.Stop() {
			w.wg.Done()
		}
		if s.retry != nil && s.retry.Stop() {
			w.wg.Done()
		}
		s.stopBackstop(&w.wg)
	}
	close(w.done)
	w.wg.Wait()
}

// open adds an empty slot k and makes sure it fires: straight away through the
// ready queue if its time has passed, else with a timer. It reports whether a
// worker must be woken. w.mu must be held and w.closed false.
func (w *Wheel[T]) open(k Slot) (*slot[T], bool) {
	s := &slot[T]{}
	w.slots[k] = s
	if now := w.Now(); w.slotTime(k) > now {
		w.arm(k, s, now)
		return s, false
	}
	w.ready = append(w.ready, k)
	return s, true
}

// arm sets a RussellLuo timer that queues slot k no earlier than its time. now
// is the wheel clock, read before the call. w.mu must be held and w.closed
// false: that is what keeps AfterFunc away from a stopping RussellLuo wheel.
// AfterFunc may block for a moment, handing the new timer to the RussellLuo
// wheel's goroutine, which never waits for w.mu.
func (w *Wheel[T]) arm(k Slot, s *slot[T], now int64) {
	d := min(time.Duration(w.slotTime(k)-now), maxArm)
	// RussellLuo truncates the wall-clock expiry to a millisecond and fires once
	// the truncated wall clock reaches it, up to 1ms early. Round the expiry up
	// to a whole millisecond so truncation loses nothing. The wall clock is read
	// after now, so the rounded expiry is not before the slot's time.
	if r := (time.Now().UnixNano() + int64(d)) % int64(twTick); r > 0 {
		d += twTick - time.Duration(r)
	} else if r < 0 {
		d -= time.Duration(r)
	}
	if !w.noRussell {
		w.armed.Add(1)
		w.wg.Add(1)
		s.timer = w.tw.AfterFunc(d, func() { w.fire(k) })
	}
	// RussellLuo follows the wall clock: after a backward step it fires late
	// by the step. The backstop, on the monotonic clock, bounds that to one
	// Tick; it is stopped unused when the slot is handed over in time.
	w.wg.Add(1)
	s.backstop = time.AfterFunc(time.Duration(w.slotTime(k)-now+w.tick), func() { w.fire(k) })
}

// retry queues slot k, whose timer fired before the slot's time, once its time
// has come, on a runtime timer. Re-arming on RussellLuo instead could fire early
// again: after a backward step of the wall clock, RussellLuo runs any timer due
// before its own (earlier) idea of now at once, and would do so until the slot's
// time. now is the wheel clock, read before the call. w.mu must be held and
// w.closed false.
func (w *Wheel[T]) retry(k Slot, s *slot[T], now int64) {
	w.armed.Add(1)
	w.wg.Add(1)
	s.retry = time.AfterFunc(time.Duration(w.slotTime(k)-now), func() { w.fire(k) })
}

// fire is a timer's callback, run in a goroutine of its own. It only queues the
// slot and wakes a worker.
func (w *Wheel[T]) fire(k Slot) {
	defer w.wg.Done()
	w.mu.Lock()
	if !w.closed {
		w.ready = append(w.ready, k)
	}
	w.mu.Unlock()
	w.signal()
}

// signal wakes one idle worker, without blocking.
func (w *Wheel[T]) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// work is a worker goroutine: it hands over batches until no work is queued,
// then waits to be woken.
func (w *Wheel[T]) work() {
	defer w.wg.Done()
	buf := make([]T, 0, min(w.batch, defaultBatchSize))
	for {
		select {
		case <-w.wake:
		case <-w.done:
			return
		}
		for w.step(&buf) {
		}
	}
}

// step hands over one batch, if there is one, and reports whether it did.
func (w *Wheel[T]) step(buf *[]T) bool {
	w.mu.Lock()
	r, ok := w.take()
	more := len(w.runs) > 0 || w.readyHead < len(w.ready)
	w.mu.Unlock()
	if !ok {
		return false
	}
	if more {
		w.signal()
	}

	items, rest := r.carve(*buf, w.batch, &w.pool)
	*buf = items
	w.held.Add(-int64(len(items)))
	if rest.n > 0 {
		// Publish the rest only now that carve is done with the chunks; another
		// worker may take it while this one runs expire.
		w.mu.Lock()
		if w.closed {
			w.held.Add(-int64(rest.n))
		} else {
			w.runs = append(w.runs, rest)
		}
		w.mu.Unlock()
		w.signal()
	}

	w.expire(Batch[T]{Slot: r.k, Now: w.Now(), Items: items})
	clear(items) // keep no reference to handed-over items
	return true
}

// take returns queued work: a run left over from a slot being handed over, or
// else the next fired slot, detached. A slot whose timer fired before its time
// is re-armed instead. w.mu must be held.
func (w *Wheel[T]) take() (run[T], bool) {
	if w.closed {
		return run[T]{}, false
	}
	if n := len(w.runs); n > 0 {
		r := w.runs[n-1]
		w.runs[n-1] = run[T]{}
		w.runs = w.runs[:n-1]
		return r, true
	}
	for w.readyHead < len(w.ready) {
		k := w.popReady()
		s := w.slots[k]
		if s == nil {
			continue
		}
		if now := w.Now(); now < w.slotTime(k) {
			// Early: the wall clock stepped, or the slot is beyond maxArm.
			w.retry(k, s, now)
			continue
		}
		// Detach: a later Schedule to k opens a fresh slot, which goes straight
		// to the ready queue.
		delete(w.slots, k)
		if w.lastS == s {
			w.lastS = nil
		}
		s.stopBackstop(&w.wg)
		return run[T]{k: k, head: s.head, n: s.n}, true
	}
	return run[T]{}, false
}

// popReady removes the oldest fired slot from the ready queue, which must not be
// empty. w.mu must be held.
func (w *Wheel[T]) popReady() Slot {
	k := w.ready[w.readyHead]
	w.readyHead++
	switch {
	case w.readyHead == len(w.ready):
		w.ready, w.readyHead = w.ready[:0], 0
	case w.readyHead >= 64 && 2*w.readyHead >= len(w.ready):
		// Drop the consumed front, so a queue that never drains stays small.
		n := copy(w.ready, w.ready[w.readyHead:])
		w.ready, w.readyHead = w.ready[:n], 0
	}
	return k
}
