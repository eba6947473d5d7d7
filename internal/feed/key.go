package feed

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// entry is one cached event.
type entry struct {
	tt   int64  // timetoken
	at   int64  // when filed, Feed.mono
	ch   string // channel
	body []byte // encoded by Config.Encode; never modified
}

// entryOverhead is what an entry costs besides its body, as counted against
// Config.MaxBytes.
const entryOverhead = int(unsafe.Sizeof(entry{}))

func (e *entry) size() int { return cap(e.body) + entryOverhead }

// maxEvicted bounds the evictions a Key remembers per channel (a power of
// two); past it, the oldest such memory folds into the key's floor.
const maxEvicted = 4096

// minRing is the smallest ring a Key allocates.
const minRing = 64

// Key holds the recent events of one sub key, in timetoken order, and the
// requests waiting for them. Get one with Feed.Acquire and give it back with
// Release.
//
// A Key is safe for concurrent use. Its lock is held only to copy references
// in or out: encoding happens before, answering after.
type Key struct {
	f    *Feed
	refs atomic.Int64 // requests using the key
	used atomic.Int64 // Feed.mono of the last Acquire

	mu      sync.Mutex
	ring    []entry // len is a power of two, or zero
	head, n int
	bytes   int
	newest  int64 // timetoken of the newest event filed
	// floor: an event of any channel with a timetoken up to floor may be
	// missing (not yet watched, dropped by the subscription, or evicted and
	// no longer remembered per channel).
	floor int64
	// evicted maps a channel to the timetoken of its newest evicted event;
	// evictq lists the evictions in order, to bound the map (entries whose
	// timetoken no longer matches the map are stale and skipped).
	evicted     map[string]int64
	evictq      []evictedEntry // a ring; len is a power of two up to maxEvicted
	eqHead, eqN int
	// wait maps a channel to the head of the list of waiters on it.
	wait    map[string]*node
	waiters int
}

type evictedEntry struct {
	ch string
	tt int64
}

// Release gives back a Key obtained from Feed.Acquire.
func (k *Key) Release() { k.refs.Add(-1) }

// Head returns the cursor a new subscriber starts from, given the timetoken
// of the wall clock now: the latest of now-1, the newest event filed and the
// floor. An event published from now on has a later timetoken (the bus
// gives each one at least the clock's, and more than the previous one's), so
// none is missed; one published within the same 100 ns before may be
// delivered too.
func (k *Key) Head(now int64) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return max(now-1, k.newest, k.floor)
}

func (k *Key) at(i int) *entry { return &k.ring[(k.head+i)&(len(k.ring)-1)] }

// push files e, evicting the oldest events past Config.MaxBytes. Under k.mu.
func (k *Key) push(e entry) {
	if k.n == len(k.ring) {
		k.resize(max(2*len(k.ring), minRing))
	}
	*k.at(k.n) = e
	k.n++
	sz := e.size()
	k.bytes += sz
	k.f.bytes.Add(int64(sz))
	k.f.events.Add(1)
	k.newest = max(k.newest, e.tt)
	for k.bytes > k.f.cfg.MaxBytes && k.n > 1 {
		k.evictFront()
	}
}

// evictFront drops the oldest event and remembers its timetoken for its
// channel. Under k.mu.
func (k *Key) evictFront() {
	e := k.at(0)
	sz := e.size()
	ch, tt := e.ch, e.tt
	*e = entry{}
	k.head = (k.head + 1) & (len(k.ring) - 1)
	k.n--
	k.bytes -= sz
	k.f.bytes.Add(-int64(sz))
	k.f.events.Add(-1)

	k.evicted[ch] = tt // evictions go in timetoken order: this is the newest
	if k.eqN == maxEvicted {
		old := &k.evictq[k.eqHead]
		if k.evicted[old.ch] == old.tt {
			delete(k.evicted, old.ch)
			k.floor = max(k.floor, old.tt)
		}
		*old = evictedEntry{}
		k.eqHead = (k.eqHead + 1) & (maxEvicted - 1)
		k.eqN--
	}
	if k.eqN == len(k.evictq) {
		q := make([]evictedEntry, min(max(2*len(k.evictq), minRing), maxEvicted))
		for i := range k.eqN {
			q[i] = k.evictq[(k.eqHead+i)&(len(k.evictq)-1)]
		}
		k.evictq, k.eqHead = q, 0
	}
	k.evictq[(k.eqHead+k.eqN)&(len(k.evictq)-1)] = evictedEntry{ch: ch, tt: tt}
	k.eqN++
}

// resize moves the ring into one of size (a power of two >= n).
func (k *Key) resize(size int) {
	ring := make([]entry, size)
	for i := range k.n {
		ring[i] = *k.at(i)
	}
	k.ring, k.head = ring, 0
}

// shrink gives back ring memory that a burst left behind. Under k.mu.
func (k *Key) shrink() {
	switch {
	case k.n == 0:
		k.ring, k.head = nil, 0
	case len(k.ring) > minRing && k.n <= len(k.ring)/4:
		k.resize(len(k.ring) / 2)
	}
}

// search returns the index of the first event newer than cursor.
func (k *Key) search(cursor int64) int {
	lo, hi := 0, k.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.at(m).tt > cursor {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Delivery is one event for a request: its encoded body and the subscription
// name it matched.
type Delivery struct {
	Body      []byte // shared and read-only
	Sub       string
	Timetoken int64
}

// Stale marks a channel on which events newer than the request's cursor may
// be missing, up to Timetoken.
type Stale struct {
	Channel, Sub string
	Timetoken    int64
}

// Batch is what Poll found. Its slices are reused from call to call.
type Batch struct {
	Stale  []Stale
	Events []Delivery
	// Cursor is the cursor to answer with: past every delivered event and
	// every stale mark, and past the newest event of the sub key when the
	// batch is complete; the last delivered event's timetoken when Capped.
	Cursor int64
	// Capped is set when more events were waiting than the batch took.
	Capped bool
}

func (b *Batch) reset(cursor int64) {
	clear(b.Stale)
	clear(b.Events)
	b.Stale, b.Events, b.Cursor, b.Capped = b.Stale[:0], b.Events[:0], cursor, false
}

// Poll collects the events of chans newer than cursor, at most limit of them
// (limit > 0), and the channels on which some may be missing. If it finds
// nothing and w is not nil, it registers w under every channel of chans
// until an event of one of them is filed, or the key's floor rises, or
// Cancel; w is unregistered first if it was registered. It reports whether
// it found anything.
func (k *Key) Poll(cursor int64, chans *Channels, limit int, w *Waiter, b *Batch) bool {
	b.reset(cursor)
	k.mu.Lock()
	defer k.mu.Unlock()
	if w != nil {
		k.unregisterLocked(w)
	}
	if cursor < k.floor {
		for _, c := range chans.list {
			b.Stale = append(b.Stale, Stale{Channel: c.ch, Sub: c.sub, Timetoken: max(k.floor, k.evicted[c.ch])})
		}
	} else if len(k.evicted) > 0 {
		for _, c := range chans.list {
			if tt, ok := k.evicted[c.ch]; ok && tt > cursor {
				b.Stale = append(b.Stale, Stale{Channel: c.ch, Sub: c.sub, Timetoken: tt})
			}
		}
	}
	for i := k.search(cursor); i < k.n; i++ {
		e := k.at(i)
		sub, ok := chans.Lookup(e.ch)
		if !ok {
			continue
		}
		if len(b.Events) == limit {
			b.Capped = true
			break
		}
		b.Events = append(b.Events, Delivery{Body: e.body, Sub: sub, Timetoken: e.tt})
	}
	if len(b.Events) == 0 && len(b.Stale) == 0 {
		if w != nil && len(chans.list) > 0 {
			k.registerLocked(w, chans)
		}
		return false
	}
	if b.Capped {
		b.Cursor = b.Events[len(b.Events)-1].Timetoken
		return true
	}
	b.Cursor = max(cursor, k.newest)
	for _, s := range b.Stale {
		b.Cursor = max(b.Cursor, s.Timetoken)
	}
	return true
}

// Cancel unregisters w if it is registered.
func (k *Key) Cancel(w *Waiter) {
	k.mu.Lock()
	k.unregisterLocked(w)
	k.mu.Unlock()
}

// node links a Waiter into the list of one channel.
type node struct {
	w          *Waiter
	ch         string
	prev, next *node
}

// Waiter is one request waiting on a Key. Its wake channel receives a value
// when an event of one of its channels is filed, or the floor rises. It is
// used by one request at a time.
type Waiter struct {
	wake       chan struct{}
	nodes      []node
	registered bool
}

// NewWaiter returns a waiter.
func NewWaiter() *Waiter { return &Waiter{wake: make(chan struct{}, 1)} }

// Wake returns the channel that signals w. A signal may be stale: poll
// again.
func (w *Waiter) Wake() <-chan struct{} { return w.wake }

func (k *Key) registerLocked(w *Waiter, chans *Channels) {
	if k.wait == nil {
		k.wait = make(map[string]*node)
	}
	if cap(w.nodes) < len(chans.list) {
		w.nodes = make([]node, len(chans.list))
	}
	w.nodes = w.nodes[:len(chans.list)]
	for i, c := range chans.list {
		n := &w.nodes[i]
		*n = node{w: w, ch: c.ch, next: k.wait[c.ch]}
		if n.next != nil {
			n.next.prev = n
		}
		k.wait[c.ch] = n
	}
	w.registered = true
	k.waiters++
	k.f.waiting.Add(1)
}

func (k *Key) unregisterLocked(w *Waiter) {
	if !w.registered {
		return
	}
	for i := range w.nodes {
		n := &w.nodes[i]
		if n.prev != nil {
			n.prev.next = n.next
		} else if n.next != nil {
			k.wait[n.ch] = n.next
		} else {
			delete(k.wait, n.ch)
		}
		if n.next != nil {
			n.next.prev = n.prev
		}
		*n = node{}
	}
	w.registered = false
	k.waiters--
	k.f.waiting.Add(-1)
}

// wakeLocked signals the waiters of ch. It never blocks.
func (k *Key) wakeLocked(ch string) {
	for n := k.wait[ch]; n != nil; n = n.next {
		select {
		case n.w.wake <- struct{}{}:
		default:
		}
	}
}

// wakeAllLocked signals every waiter.
func (k *Key) wakeAllLocked() {
	for _, head := range k.wait {
		for n := head; n != nil; n = n.next {
			select {
			case n.w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Channels is the set of channels one request waits on, each with the
// subscription name that matched it (the name an event is delivered under).
// The zero value is empty and ready to use; it is not safe for concurrent
// use.
type Channels struct {
	list  []chanSub
	index map[string]int // built past linearMax channels
}

type chanSub struct{ ch, sub string }

// linearMax is the most channels looked up by a linear scan.
const linearMax = 8

// Reset empties c, keeping its memory.
func (c *Channels) Reset() {
	clear(c.list)
	c.list = c.list[:0]
	clear(c.index)
}

// Add adds ch, delivered under sub, unless ch is in c already: the first
// subscription that names a channel wins.
func (c *Channels) Add(ch, sub string) {
	if _, ok := c.Lookup(ch); ok {
		return
	}
	c.list = append(c.list, chanSub{ch, sub})
	switch {
	case len(c.list) == linearMax+1:
		if c.index == nil {
			c.index = make(map[string]int, 2*linearMax)
		}
		for i, x := range c.list {
			c.index[x.ch] = i
		}
	case len(c.list) > linearMax+1:
		c.index[ch] = len(c.list) - 1
	}
}

// Lookup returns the subscription name ch is delivered under.
func (c *Channels) Lookup(ch string) (string, bool) {
	if len(c.list) > linearMax {
		i, ok := c.index[ch]
		if !ok {
			return "", false
		}
		return c.list[i].sub, true
	}
	for i := range c.list {
		if c.list[i].ch == ch {
			return c.list[i].sub, true
		}
	}
	return "", false
}

// Len returns the number of channels in c.
func (c *Channels) Len() int { return len(c.list) }
