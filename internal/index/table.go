// Package index provides Table, a concurrent hash index from string keys to values
// that carry their own key.
//
// It exists for the engine's largest index, uuid -> client, where a built-in map or
// a general concurrent map costs 24 to 50 bytes per entry. A Table slot is a
// pointer and 32 bits of the hash of its key (12.8 bytes in buckets of five
// per cache line), a growing table is between 50% and 75% full, lookups
// take no lock and do not allocate, and writers lock one of many shards.
//
// Keeping the hash beside the pointer means a lookup dereferences only the
// value it is after: the other values on its probe sequence, and every value
// when a shard grows, are told apart by their hashes without touching them. At
// millions of values, each value not touched is a cache miss saved.
package index

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"
)

// minBuckets is the size of the smallest table.
const minBuckets = 2

// Load factors, in values per slot: a table grows when an insert would take
// it past maxLoad, shrinks when a removal leaves it below minLoad, and a
// rebuild sizes it for rebuildLoad. Buckets of five keep probes short at
// these loads: most lookups read the key's home bucket, one cache line, and
// stop there.
const (
	maxLoad     = 0.75
	rebuildLoad = 0.5
	minLoad     = 0.2
)

// Table maps string keys to *V. The key of a value is derived from the value by
// the keyOf function given to New, so that a slot holds no copy of the key,
// only a pointer and 32 bits of the key's hash.
//
// A Table is safe for concurrent use. Get takes no lock; Update locks the shard of
// its key. A Table must not be copied after first use.
type Table[V any] struct {
	keyOf     func(*V) string
	shardBits uint
	shards    []shard[V]
}

// shard is one lock's part of a Table, padded to a cache line of its own.
// Counts are per shard so that writers of different shards share no line.
type shard[V any] struct {
	mu   sync.Mutex
	tab  atomic.Pointer[slots[V]]
	n    atomic.Int64 // values in tab, for Len
	live int          // values in tab, under mu
	_    [32]byte
}

// slots is an open-addressed table of buckets with linear probing from a
// key's home bucket. Once published it is only written under its shard's
// lock, slot by slot, and it always keeps some of its slots nil, so that an
// insert finds one.
//
// A bucket counts, in over, the values stored beyond it whose probe sequence
// passed it: those whose home bucket is it or one before it, and that found
// it full when they were inserted. A lookup reads the key's home bucket and
// goes on to the next only while the bucket's over is not zero; so a
// removal can make its slot nil again, there are no tombstones, churn on a
// stable number of keys never fills the table nor rebuilds it, and an
// unsuccessful lookup mostly reads one bucket.
type slots[V any] struct {
	b []bucket[V]
	// grow is the most values the table takes, maxLoad of its slots: an
	// insert beyond it rebuilds the table larger. shrink is the fewest it
	// keeps, minLoad of its slots (0 for the smallest table): a removal
	// below it rebuilds the table smaller.
	grow, shrink int
}

// bucketSlots is the number of slots of a bucket.
const bucketSlots = 5

// bucket is five slots in one 64-byte line: the pointers and, beside them,
// 32 bits of the hash of each value's key, and the count of values stored
// beyond the bucket that passed it (see slots). The allocator places arrays
// of 64-byte elements on 64-byte boundaries (every size class above 64
// bytes is a multiple of 64), so a bucket never straddles two lines.
//
// A writer stores a slot's hash before it publishes the pointer, raises the
// over counts a value passes before it publishes the value, and lowers them
// after it removes it (makes its slot nil). A value replaced by another
// under the same key keeps the hash. So a lookup of a key that is in the
// table from its start to its end finds the key's slot as it was, and a
// nonzero over in every bucket from the key's home to the key's bucket. A
// reader that loads a hash and then the pointer may see a pointer stored
// after the hash: a value of another key, which it tells apart by comparing
// the key, or nil.
type bucket[V any] struct {
	h    [bucketSlots]atomic.Uint32
	over atomic.Uint32
	p    [bucketSlots]atomic.Pointer[V]
}

// home returns the home bucket of a key whose stored hash is h among n
// buckets: the multiply-shift range reduction, which needs no power of two,
// so that tables grow by half rather than double.
func home(h uint32, n int) int { return int(uint64(h) * uint64(n) >> 32) }

// New returns an empty Table whose values are keyed by keyOf, which must be a
// pure function of immutable fields of the value. Writers lock one of shards
// shards (rounded up to a power of two, at least 1); each costs 64 bytes.
func New[V any](keyOf func(*V) string, shards int) *Table[V] {
	bits := uint(0)
	for 1<<bits < shards {
		bits++
	}
	return &Table[V]{keyOf: keyOf, shardBits: bits, shards: make([]shard[V], 1<<bits)}
}

// Len returns the number of values in the table. It sums the shards' counts
// without a lock: with concurrent writers, the sum is approximate.
func (t *Table[V]) Len() int {
	n := int64(0)
	for i := range t.shards {
		n += t.shards[i].n.Load()
	}
	return int(n)
}

// Key is a string key with its hash, for a caller that looks the same key up
// more than once, in one Table or several: NewKey hashes it once and GetKey
// and UpdateKey reuse the hash.
type Key struct {
	s string
	h uint64
}

// seed is the hash seed of every Table of the process, so that a Key is valid
// for all of them. It is random per process, as a map's is.
var seed = maphash.MakeSeed()

// NewKey returns key hashed.
func NewKey(key string) Key { return Key{s: key, h: maphash.String(seed, key)} }

// String returns the key.
func (k Key) String() string { return k.s }

// at returns the shard of k and the 32 bits of its hash that the shard's
// tables store and place it by. The shard is chosen by the low bits and the
// stored bits are the high ones, so that keys of one shard spread over its
// buckets.
func (t *Table[V]) at(k Key) (uint32, *shard[V]) {
	return uint32(k.h >> 32), &t.shards[k.h&(1<<t.shardBits-1)]
}

// Get returns the value stored under key, or nil. It takes no lock and does not
// allocate. A value removed concurrently may still be returned; callers that
// care validate what they get.
func (t *Table[V]) Get(key string) *V { return t.GetKey(NewKey(key)) }

// GetKey is Get for a key hashed by NewKey.
func (t *Table[V]) GetKey(k Key) *V {
	h, sh := t.at(k)
	tab := sh.tab.Load()
	if tab == nil {
		return nil
	}
	p, _ := t.find(tab, h, k.s)
	return p
}

// find returns the value stored in tab under key, whose stored hash is h,
// and its slot, or nil.
func (t *Table[V]) find(tab *slots[V], h uint32, key string) (*V, slotRef[V]) {
	n := len(tab.b)
	for i, left := home(h, n), n; ; {
		bk := &tab.b[i]
		for j := range bucketSlots {
			if bk.h[j].Load() == h {
				if p := bk.p[j].Load(); p != nil && t.keyOf(p) == key {
					return p, slotRef[V]{bk, i, j}
				}
			}
		}
		if left--; left == 0 || bk.over.Load() == 0 {
			return nil, slotRef[V]{} // no key of an earlier home went past this bucket
		}
		if i++; i == n {
			i = 0
		}
	}
}

// Update calls fn with the value stored under key (nil if none) while holding
// the lock of key's shard, and stores what fn returns: a non-nil value replaces
// or inserts (its key must equal key), nil removes. fn must not call into the
// Table for a key of the same shard; it runs with the shard lock held.
func (t *Table[V]) Update(key string, fn func(old *V) *V) { t.UpdateKey(NewKey(key), fn) }

// UpdateKey is Update for a key hashed by NewKey.
func (t *Table[V]) UpdateKey(k Key, fn func(old *V) *V) {
	h, sh := t.at(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()

	tab := sh.tab.Load()
	var (
		old *V
		at  slotRef[V] // the slot of old
	)
	if tab != nil {
		old, at = t.find(tab, h, k.s)
	}
	v := fn(old)
	switch {
	case old != nil && v != nil:
		at.bk.p[at.j].Store(v)
	case old != nil:
		at.bk.p[at.j].Store(nil)
		passed(tab, h, at.i, ^uint32(0)) // after the removal: see bucket
		sh.live--
		sh.n.Add(-1)
		switch {
		case sh.live == 0 && len(tab.b) > minBuckets:
			// An empty shard gives a grown table back at once, and keeps a
			// table of the smallest size, emptied in place, so that a key
			// coming and going alone in its shard allocates nothing.
			sh.tab.Store(nil)
		case sh.live < tab.shrink:
			t.rebuild(sh, tab, sh.live)
		}
	case v != nil:
		if tab == nil || sh.live >= tab.grow {
			tab = t.rebuild(sh, tab, sh.live+1)
		}
		place(tab, freeSlot(tab, h), h, v)
		sh.live++
		sh.n.Add(1)
	}
}

// slotRef names one slot of a table: bucket i, slot j.
type slotRef[V any] struct {
	bk   *bucket[V]
	i, j int
}

// freeSlot returns the first nil slot on the probe sequence of h. The
// caller holds the shard lock.
func freeSlot[V any](tab *slots[V], h uint32) slotRef[V] {
	n := len(tab.b)
	for i := home(h, n); ; {
		bk := &tab.b[i]
		for j := range bucketSlots {
			if bk.p[j].Load() == nil {
				return slotRef[V]{bk, i, j}
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// place stores v, whose key's stored hash is h, in the nil slot s of tab,
// raising the over count of each bucket its probe sequence passes first.
// The caller holds the shard lock.
func place[V any](tab *slots[V], s slotRef[V], h uint32, v *V) {
	passed(tab, h, s.i, 1)
	s.bk.h[s.j].Store(h) // before p: see bucket
	s.bk.p[s.j].Store(v)
}

// passed adds d (1, or -1 as ^0) to the over count of each bucket from the
// home of h up to, and not including, bucket i.
func passed[V any](tab *slots[V], h uint32, i int, d uint32) {
	n := len(tab.b)
	for b := home(h, n); b != i; {
		tab.b[b].over.Add(d)
		if b++; b == n {
			b = 0
		}
	}
}

// rebuild publishes a new table sized for want values at rebuildLoad.
// Readers still probing the old table finish there; it is never written
// again. Values are placed by their stored hashes: none is read.
func (t *Table[V]) rebuild(sh *shard[V], old *slots[V], want int) *slots[V] {
	n := max(minBuckets, int(float64(want)/(rebuildLoad*bucketSlots))+1)
	tab := &slots[V]{b: make([]bucket[V], n), grow: int(maxLoad * float64(n*bucketSlots))}
	if n > minBuckets {
		tab.shrink = int(minLoad * float64(n*bucketSlots))
	}
	if old != nil {
		for i := range old.b {
			for j := range bucketSlots {
				if p := old.b[i].p[j].Load(); p != nil {
					h := old.b[i].h[j].Load()
					place(tab, freeSlot(tab, h), h, p)
				}
			}
		}
	}
	sh.tab.Store(tab)
	return tab
}

// Range calls fn for every value until fn returns false. It takes no lock: values
// inserted or removed during the call may or may not be seen.
func (t *Table[V]) Range(fn func(*V) bool) {
	for i := range t.shards {
		tab := t.shards[i].tab.Load()
		if tab == nil {
			continue
		}
		for b := range tab.b {
			for j := range bucketSlots {
				if p := tab.b[b].p[j].Load(); p != nil {
					if !fn(p) {
						return
					}
				}
			}
		}
	}
}

// GetOrCreate returns the value stored under key, or stores and returns the
// value create makes (under the shard lock) if there is none. created tells
// which happened.
func (t *Table[V]) GetOrCreate(key string, create func() *V) (v *V, created bool) {
	if v = t.Get(key); v != nil {
		return v, false
	}
	t.Update(key, func(old *V) *V {
		if old != nil {
			v = old
			return old
		}
		v, created = create(), true
		return v
	})
	return v, created
}

// DeleteIf removes the value stored under key if it is v.
func (t *Table[V]) DeleteIf(key string, v *V) {
	t.Update(key, func(old *V) *V {
		if old == v {
			return nil
		}
		return old
	})
}

// Shards returns the number of shards, for ShardBytes.
func (t *Table[V]) Shards() int { return len(t.shards) }

// ShardBytes returns the bytes of shard i's current table: its buckets, 64
// bytes each. It is for memory accounting, not exact under concurrent
// writes.
func (t *Table[V]) ShardBytes(i int) int {
	if tab := t.shards[i].tab.Load(); tab != nil {
		return len(tab.b) * int(unsafe.Sizeof(bucket[V]{}))
	}
	return 0
}
