package cluster

import (
	"sync"

	"github.com/presenced/presence/events"
)

// merger interleaves the events of several buckets into one order by
// timetoken, so that a subscriber's cursor (the timetoken of the last event
// it received) stands for everything before it, whichever buckets the
// events came from.
//
// Each bucket's events come in timetoken order, and every bucket reports a
// watermark with them: the timetoken of the last message it read, which every
// later event of that bucket exceeds. An event is released once every
// bucket's watermark has reached it. A bucket that is idle moves its
// watermark with the ticks every node writes (Config.Tick), so an event waits
// for the other buckets about one tick at most, and for as long as a bucket's
// consumer is cut off.
type merger struct {
	n      *Node
	mu     sync.Mutex
	queues []queue
	marks  []int64
}

// queue holds one bucket's events not yet released, from head on.
type queue struct {
	evs  []events.Event
	head int
}

func newMerger(n *Node, buckets int) *merger {
	return &merger{n: n, queues: make([]queue, buckets), marks: make([]int64, buckets)}
}

// push adds bucket b's events, which follow those pushed before, and moves
// its watermark to mark; then it releases what every bucket has passed, in
// timetoken order. Buckets call it from their appliers, so the release runs
// on one of them at a time.
func (m *merger) push(b int, evs []events.Event, mark int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := &m.queues[b]
	q.evs = append(q.evs, evs...)
	m.marks[b] = max(m.marks[b], mark)
	low := m.marks[0]
	for _, w := range m.marks[1:] {
		low = min(low, w)
	}
	for {
		best := -1
		var tt int64
		for i := range m.queues {
			q := &m.queues[i]
			if q.head < len(q.evs) {
				if t := q.evs[q.head].Timetoken; t <= low && (best < 0 || t < tt) {
					best, tt = i, t
				}
			}
		}
		if best < 0 {
			break
		}
		q := &m.queues[best]
		m.n.emit(&q.evs[q.head])
		q.evs[q.head] = events.Event{}
		q.head++
		if q.head == len(q.evs) {
			q.evs, q.head = q.evs[:0], 0
		}
	}
}
