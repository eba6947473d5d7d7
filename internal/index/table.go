// Package index provides Table, a concurrent hash index from string keys to values
// that carry their own key.
//
// It exists for the engine's largest index, uuid -> client, where a built-in map or
// a general concurrent map costs 24 to 50 bytes per entry. A Table slot is one
// pointer (8 bytes), lookups take no lock and do not allocate, and writers lock
// one of many shards.
package index

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const minSlots = 8

// Table maps string keys to *V. The key of a value is derived from the value by
// the keyOf function given to New, so that a slot holds only a pointer.
//
// A Table is safe for concurrent use. Get takes no lock; Update locks the shard of
// its key. A Table must not be copied after first use.
type Table[V any] struct {
	seed      maphash.Seed
	keyOf     func(*V) string
	tomb      *V
	count     atomic.Int64
	shardBits uint
	shards    []shard[V]
}

type shard[V any] struct {
	mu   sync.Mutex
	tab  atomic.Pointer[slots[V]]
	live int // values in tab, under mu
	used int // values and tombstones in tab, under mu
	_    [32]byte
}

// slots is an open-addressed table with linear probing. Once published it is
// only written under its shard's lock, slot by slot with atomic stores, and it
// always keeps at least a quarter of its slots nil, so that probes end.
type slots[V any] struct {
	mask uint64
	s    []atomic.Pointer[V]
}

// New returns an empty Table whose values are keyed by keyOf, which must be a
// pure function of immutable fields of the value. Writers lock one of shards
// shards (rounded up to a power of two, at least 1); each costs 64 bytes.
func New[V any](keyOf func(*V) string, shards int) *Table[V] {
	bits := uint(0)
	for 1<<bits < shards {
		bits++
	}
	return &Table[V]{seed: maphash.MakeSeed(), keyOf: keyOf, tomb: new(V), shardBits: bits, shards: make([]shard[V], 1<<bits)}
}

// Len returns the number of values in the table.
func (t *Table[V]) Len() int { return int(t.count.Load()) }

func (t *Table[V]) hash(key string) (uint64, *shard[V]) {
	h := maphash.String(t.seed, key)
	return h >> t.shardBits, &t.shards[h&(1<<t.shardBits-1)]
}

// Get returns the value stored under key, or nil. It takes no lock and does not
// allocate. A value removed concurrently may still be returned; callers that
// care validate what they get.
func (t *Table[V]) Get(key string) *V {
	h, sh := t.hash(key)
	tab := sh.tab.Load()
	if tab == nil {
		return nil
	}
	for i := h & tab.mask; ; i = (i + 1) & tab.mask {
		p := tab.s[i].Load()
		if p == nil {
			return nil
		}
		if p != t.tomb && t.keyOf(p) == key {
			return p
		}
	}
}

// Update calls fn with the value stored under key (nil if none) while holding
// the lock of key's shard, and stores what fn returns: a non-nil value replaces
// or inserts (its key must equal key), nil removes. fn must not call into the
// Table for a key of the same shard; it runs with the shard lock held.
func (t *Table[V]) Update(key string, fn func(old *V) *V) {
	h, sh := t.hash(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()

	tab := sh.tab.Load()
	var at uint64 // slot of the existing value
	var old *V
	if tab != nil {
		for i := h & tab.mask; ; i = (i + 1) & tab.mask {
			p := tab.s[i].Load()
			if p == nil {
				break
			}
			if p != t.tomb && t.keyOf(p) == key {
				old, at = p, i
				break
			}
		}
	}
	v := fn(old)
	switch {
	case old != nil && v != nil:
		tab.s[at].Store(v)
	case old != nil:
		tab.s[at].Store(t.tomb)
		sh.live--
		t.count.Add(-1)
		if sh.live == 0 {
			// An empty shard gives its memory back at once.
			sh.tab.Store(nil)
			sh.used = 0
		}
	case v != nil:
		if tab == nil || (sh.used+1)*4 > len(tab.s)*3 {
			tab = t.rebuild(sh, tab, sh.live+1)
		}
		t.insert(tab, h, v)
		sh.live++
		sh.used++
		t.count.Add(1)
	}
}

// insert stores v in the first free slot of its probe sequence. The caller holds
// the shard lock and has made room.
func (t *Table[V]) insert(tab *slots[V], h uint64, v *V) {
	for i := h & tab.mask; ; i = (i + 1) & tab.mask {
		if p := tab.s[i].Load(); p == nil {
			tab.s[i].Store(v)
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
	tab := &slots[V]{mask: uint64(n - 1), s: make([]atomic.Pointer[V], n)}
	if old != nil {
		for i := range old.s {
			if p := old.s[i].Load(); p != nil && p != t.tomb {
				h, _ := t.hash(t.keyOf(p))
				t.insert(tab, h, p)
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
			if p := tab.s[j].Load(); p != nil && p != t.tomb {
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
