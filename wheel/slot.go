package wheel

import (
	"sync"
	"time"

	"github.com/RussellLuo/timingwheel"
)

// chunkSize is the number of items in one chunk. A slot stores its items in a
// linked list of fixed-size chunks, so an item costs one element of T (8 bytes
// for a pointer) plus 1/chunkSize of the link, and the garbage collector sees
// one object per chunkSize items rather than one per item. For pointer items,
// 254 pointers, the link and the runtime's 8-byte header of a large object fill
// the 2048-byte size class exactly; 256 would round up to 2304 bytes.
const chunkSize = 254

// chunk is a fixed-size block of items. Only the last chunk of a slot may be
// partly filled.
type chunk[T any] struct {
	items [chunkSize]T
	next  *chunk[T]
}

// slot is a non-empty slot still in the wheel's map: its items have not been
// handed over yet. It is guarded by Wheel.mu.
type slot[T any] struct {
	head, tail *chunk[T]
	fill       int // items in tail
	n          int // items in the slot

	// timer is the slot's RussellLuo timer, nil if the slot went straight to
	// the ready queue. retry is the runtime timer that replaces it if it fired
	// early. backstop is a runtime timer one Tick after the slot's time, for
	// when RussellLuo fires late (the wall clock stepped back); it is stopped
	// when the slot is handed over. Close stops all three.
	timer    *timingwheel.Timer
	retry    *time.Timer
	backstop *time.Timer
}

// push appends v, taking a new chunk from pool when the tail is full.
func (s *slot[T]) push(v T, pool *chunkPool[T]) {
	if s.tail == nil || s.fill == chunkSize {
		c := pool.get()
		if s.tail == nil {
			s.head = c
		} else {
			s.tail.next = c
		}
		s.tail = c
		s.fill = 0
	}
	s.tail.items[s.fill] = v
	s.fill++
	s.n++
}

// run is the detached, not yet handed over part of a fired slot: n items
// starting at head.items[off]. A run is owned by exactly one goroutine at a
// time: a worker that popped it, or the wheel's run queue under Wheel.mu.
type run[T any] struct {
	k    Slot
	head *chunk[T]
	off  int
	n    int
}

// carve moves the first limit items of r into buf (which it resets), clears the
// chunk cells it read so the wheel keeps no reference to handed-over items,
// and returns chunks it has finished to pool. It returns the rest of the run.
//
// A chunk shared between this batch and the rest stays with the rest: its
// next owner finishes it and returns it to the pool. The caller must publish
// the rest only after carve returns, so this batch's writes to the shared
// chunk happen before the next owner touches it.
func (r run[T]) carve(buf []T, limit int, pool *chunkPool[T]) ([]T, run[T]) {
	buf = buf[:0]
	take := min(r.n, limit)
	c, off := r.head, r.off
	for left := take; left > 0; {
		m := min(chunkSize-off, left)
		buf = append(buf, c.items[off:off+m]...)
		clear(c.items[off : off+m])
		off += m
		left -= m
		if off == chunkSize {
			next := c.next
			pool.put(c)
			c, off = next, 0
		}
	}
	rest := run[T]{k: r.k, head: c, off: off, n: r.n - take}
	if rest.n == 0 {
		if c != nil {
			// The partly filled last chunk of the slot.
			pool.put(c)
		}
		rest.head = nil
	}
	return buf, rest
}

// chunkPool recycles chunks. Chunks in the pool are cleared and unlinked.
// It is safe for concurrent use.
type chunkPool[T any] struct {
	p sync.Pool
}

func (p *chunkPool[T]) get() *chunk[T] {
	if c, ok := p.p.Get().(*chunk[T]); ok {
		return c
	}
	return new(chunk[T])
}

func (p *chunkPool[T]) put(c *chunk[T]) {
	c.next = nil
	p.p.Put(c)
}

// stopBackstop stops the slot's backstop timer; if that keeps its callback from
// running, it does the callback's wg.Done. Under Wheel.mu.
func (s *slot[T]) stopBackstop(wg *sync.WaitGroup) {
	if s.backstop != nil && s.backstop.Stop() {
		wg.Done()
	}
	s.backstop = nil
}
