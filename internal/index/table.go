// Package index provides Table, a concurrent hash index from string keys to values
// that carry their own key.
//
// It exists for the engine's largest index, uuid -> client, where a built-in map or
// a general concurrent map costs 24 to 50 bytes per entry. A Table slot is a
// pointer and the hash of its key (16 bytes), lookups take no lock and do not
// allocate, and writers lock one of many shards.
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
)

const minSlots = 8

// Table maps string keys to *V. The key of a value is derived from the value by
// the keyOf function given to New, so that a slot holds no copy of the key,
// only a pointer and the key's hash.
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

// slots is an open-addressed table with linear probing. Once published it is
// only written under its shard's lock, slot by slot, and it always keeps at
// least a quarter of its slots nil, so that probes end. An insert reuses the
// first tombstone on its key's probe sequence, so that churn on a stable
// number of keys does not fill the table with tombstones and rebuild it.
type slots[V any] struct {
	mask uint64
	s    []slot[V]
}

// slot holds a value and the hash of its key. A writer stores h before it
// publishes p; a value replaced by another under the same key keeps the hash,
// a removed one becomes the tombstone, and a tombstone may take a new value
// with a new hash. So a reader that loads a value and then its hash sees that
// value's hash or, if the slot was reused meanwhile, a later one: then it
// skips a value that was removed anyway, or compares the value's key and
// finds it is not the one it looks for.
type slot[V any] struct {
	p atomic.Pointer[V]
	h atomic.Uint64
}

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

// at returns the shard of k and the hash bits that place k within the shard.
func (t *Table[V]) at(k Key) (uint64, *shard[V]) {
	return k.h >> t.shardBits, &t.shards[k.h&(1<<t.shardBits-1)]
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
	for i := h & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		p := s.p.Load()
		if p == nil {
			return nil
		}
		if p != t.tomb && s.h.Load() == h && t.keyOf(p) == key {
			return p
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
	var at uint64 // slot of the existing value
	var old *V
	free := int64(-1) // the first tombstone on the probe sequence
	if tab != nil {
		for i := h & tab.mask; ; i = (i + 1) & tab.mask {
			s := &tab.s[i]
			p := s.p.Load()
			if p == nil {
				break
			}
			if p == t.tomb {
				if free < 0 {
					free = int64(i)
				}
				continue
			}
			if s.h.Load() == h && t.keyOf(p) == key {
				old, at = p, i
				break
			}
		}
	}
	v := fn(old)
	switch {
	case old != nil && v != nil:
		tab.s[at].p.Store(v)
	case old != nil:
		tab.s[at].p.Store(t.tomb)
		sh.live--
		sh.n.Add(-1)
		if sh.live == 0 {
			// An empty shard gives a grown table back at once, and keeps a
			// table of the smallest size, emptied in place, so that a key
			// coming and going alone in its shard allocates nothing. Readers
			// of an empty shard find nothing whether they see the tombstones
			// or the nils.
			if len(tab.s) > minSlots {
				sh.tab.Store(nil)
			} else {
				for i := range tab.s {
					tab.s[i].p.Store(nil)
				}
			}
			sh.used = 0
		}
	case v != nil && free >= 0:
		// The key is on no slot of its probe sequence: its first tombstone
		// takes it, and the count of used slots stays as it was.
		s := &tab.s[free]
		s.h.Store(h) // before p: see slot
		s.p.Store(v)
		sh.live++
		sh.n.Add(1)
	case v != nil:
		if tab == nil || (sh.used+1)*4 > len(tab.s)*3 {
			tab = t.rebuild(sh, tab, sh.live+1)
		}
		t.insert(tab, h, v)
		sh.live++
		sh.used++
		sh.n.Add(1)
	}
}

// insert stores v, whose key hashes to h, in the first free slot of its probe
// sequence. The caller holds the shard lock and has made room.
func (t *Table[V]) insert(tab *slots[V], h uint64, v *V) {
	for i := h & tab.mask; ; i = (i + 1) & tab.mask {
		if s := &tab.s[i]; s.p.Load() == nil {
			s.h.Store(h) // before p: see slot
			s.p.Store(v)
			return
		}
	}
}

// rebuild publishes a new table sized for want values, without tombstones. Readers
// still probing the old table finish there; it is never written again.
func (t *Table[V]) rebuild(sh *shard[V], old *slots[V], want int) *slots[V] {
	n := minSlots
	for n*3 < want*4*2 { // at most 3/8 full after a rebuild
		n *= 2
	}
	tab := &slots[V]{mask: uint64(n - 1), s: make([]slot[V], n)}
	if old != nil {
		for i := range old.s {
			if p := old.s[i].p.Load(); p != nil && p != t.tomb {
				t.insert(tab, old.s[i].h.Load(), p)
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
		for j := range tab.s {
			if p := tab.s[j].p.Load(); p != nil && p != t.tomb {
				if !fn(p) {
					return
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
