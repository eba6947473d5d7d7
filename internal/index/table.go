// Package index provides Table, a concurrent hash index from string keys to values
// that carry their own key.
//
// It exists for the engine's largest index, uuid -> client, where a built-in map or
// a general concurrent map costs 24 to 50 bytes per entry. A Table slot is a
// pointer and 32 bits of the hash of its key (12.8 bytes in buckets of five
// per cache line), tables are between 50% and 75% full, lookups
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

// Load factors, in slots used per slot: a table grows when an insert would
// take it past maxLoad (tombstones included), and a rebuild sizes it for
// rebuildLoad. Buckets of five keep probes short at these loads: most
// lookups read the key's home bucket, one cache line, and stop there.
const (
	maxLoad     = 0.75
	rebuildLoad = 0.5
)

// Table maps string keys to *V. The key of a value is derived from the value by
// the keyOf function given to New, so that a slot holds no copy of the key,
// only a pointer and 32 bits of the key's hash.
//
// A Table is safe for concurrent use. Get takes no lock; Update locks the shard of
// its key. A Table must not be copied after first use.
type Table[V any] struct {
	keyOf     func(*V) string
	tomb      *V
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
	used int          // values and tombstones in tab, under mu
	_    [24]byte
}

// slots is an open-addressed table of buckets with linear probing from a
// key's home bucket. Once published it is only written under its shard's
// lock, slot by slot, and it always keeps some of its slots nil, so that
// probes end. An insert takes the first tombstone or nil slot on its key's
// probe sequence, so that churn on a stable number of keys does not fill the
// table with tombstones and rebuild it.
//
// A slot that is nil has never held a value since the table was made (or
// since its shard emptied): slots go from nil to a value, from a value to
// the tombstone and back, never to nil, and an insert into a bucket takes
// its first nil slot, so a bucket's nil slots are its last ones. A key that
// is in the table sits no further than the first nil slot from its home,
// and a lookup stops there.
type slots[V any] struct {
	b []bucket[V]
}

// bucketSlots is the number of slots of a bucket.
const bucketSlots = 5

// bucket is five slots in one 64-byte line: the pointers and, beside them,
// 32 bits of the hash of each value's key. The allocator places arrays of
// 64-byte elements on 64-byte boundaries (every size class above 64 bytes
// is a multiple of 64), so a bucket never straddles two lines.
//
// A writer stores a slot's hash before it publishes the pointer; a value
// replaced by another under the same key keeps the hash, a removed one
// becomes the tombstone, and a tombstone may take a new value with a new
// hash. So a reader that loads a pointer and then its hash sees that value's
// hash or, if the slot was reused meanwhile, a later one: then it skips a
// value that was removed anyway, or compares the value's key and finds it is
// not the one it looks for.
type bucket[V any] struct {
	h [bucketSlots]atomic.Uint32
	_ uint32
	p [bucketSlots]atomic.Pointer[V]
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
	return &Table[V]{keyOf: keyOf, tomb: new(V), shardBits: bits, shards: make([]shard[V], 1<<bits)}
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
	key := k.s
	h, sh := t.at(k)
	tab := sh.tab.Load()
	if tab == nil {
		return nil
	}
	n := len(tab.b)
	for i := home(h, n); ; {
		bk := &tab.b[i]
		for j := range bucketSlots {
			p := bk.p[j].Load()
			if p == nil {
				return nil // the bucket's nil slots are its last ones: see slots
			}
			if p != t.tomb && bk.h[j].Load() == h && t.keyOf(p) == key {
				return p
			}
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
	key := k.s
	h, sh := t.at(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()

	tab := sh.tab.Load()
	var (
		old        *V
		at         slotRef[V] // the slot of old
		free       slotRef[V] // the first tombstone or nil slot on the probe sequence
		freeIsTomb bool
	)
	if tab != nil {
		n := len(tab.b)
	probe:
		for i := home(h, n); ; {
			bk := &tab.b[i]
			for j := range bucketSlots {
				p := bk.p[j].Load()
				switch {
				case p == nil:
					if free.bk == nil {
						free = slotRef[V]{bk, j}
					}
					break probe // the bucket's nil slots are its last ones
				case p == t.tomb:
					if free.bk == nil {
						free, freeIsTomb = slotRef[V]{bk, j}, true
					}
				case bk.h[j].Load() == h && t.keyOf(p) == key:
					old, at = p, slotRef[V]{bk, j}
					break probe
				}
			}
			if i++; i == n {
				i = 0
			}
		}
	}
	v := fn(old)
	switch {
	case old != nil && v != nil:
		at.bk.p[at.j].Store(v)
	case old != nil:
		at.bk.p[at.j].Store(t.tomb)
		sh.live--
		sh.n.Add(-1)
		if sh.live == 0 {
			// An empty shard gives a grown table back at once, and keeps a
			// table of the smallest size, emptied in place, so that a key
			// coming and going alone in its shard allocates nothing. Readers
			// of an empty shard find nothing whether they see the tombstones
			// or the nils.
			if len(tab.b) > minBuckets {
				sh.tab.Store(nil)
			} else {
				for i := range tab.b {
					for j := range bucketSlots {
						tab.b[i].p[j].Store(nil)
					}
				}
			}
			sh.used = 0
		}
	case v != nil && freeIsTomb:
		// The key's first free slot is a tombstone: it takes the key, and
		// the count of used slots stays as it was.
		free.bk.h[free.j].Store(h) // before p: see bucket
		free.bk.p[free.j].Store(v)
		sh.live++
		sh.n.Add(1)
	case v != nil:
		if tab == nil || float64(sh.used+1) > maxLoad*float64(len(tab.b)*bucketSlots) {
			tab = t.rebuild(sh, tab, sh.live+1)
			free = t.freeSlot(tab, h)
		}
		free.bk.h[free.j].Store(h) // before p: see bucket
		free.bk.p[free.j].Store(v)
		sh.live++
		sh.used++
		sh.n.Add(1)
	}
}

// slotRef names one slot of a bucket.
type slotRef[V any] struct {
	bk *bucket[V]
	j  int
}

// freeSlot returns the first nil slot on the probe sequence of h, in a table
// without tombstones. The caller holds the shard lock.
func (t *Table[V]) freeSlot(tab *slots[V], h uint32) slotRef[V] {
	n := len(tab.b)
	for i := home(h, n); ; {
		bk := &tab.b[i]
		for j := range bucketSlots {
			if bk.p[j].Load() == nil {
				return slotRef[V]{bk, j}
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// rebuild publishes a new table sized for want values at rebuildLoad, without
// tombstones. Readers still probing the old table finish there; it is never
// written again. Values are placed by their stored hashes: none is read.
func (t *Table[V]) rebuild(sh *shard[V], old *slots[V], want int) *slots[V] {
	n := max(minBuckets, int(float64(want)/(rebuildLoad*bucketSlots))+1)
	tab := &slots[V]{b: make([]bucket[V], n)}
	if old != nil {
		for i := range old.b {
			for j := range bucketSlots {
				if p := old.b[i].p[j].Load(); p != nil && p != t.tomb {
					h := old.b[i].h[j].Load()
					s := t.freeSlot(tab, h)
					s.bk.h[s.j].Store(h)
					s.bk.p[s.j].Store(p)
				}
			}
		}
	}
	sh.used = sh.live
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
				if p := tab.b[b].p[j].Load(); p != nil && p != t.tomb {
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
