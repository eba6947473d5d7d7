package engine

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
)

// removed is the deadline of a member that left or timed out. Swapping it in is
// the one act that ends a membership, so a heartbeat racing an expiry either
// moves the deadline first (and saves the member) or finds it removed (and joins
// anew): never both, never neither.
const removed = math.MinInt64

// keyspace holds everything under one sub key.
//
// Its indexes are index.Tables rather than general concurrent maps: lookups by
// a caller's string neither lock, allocate nor let the string escape, which
// keeps the heartbeat path free of allocations.
//
// A keyspace left with no uuid, channel or group is dropped by the engine's
// sweep, so that sub keys come and go without leaking memory. Paths that add
// to a keyspace pin it, and retry with a fresh keyspace if it is sealed; the
// sweep seals it only while nothing pins it.
type keyspace struct {
	name     string
	channels *index.Table[channel]
	clients  *index.Table[client]
	groups   *index.Table[chanGroup]

	pins pins
}

func newKeyspace(name string) *keyspace {
	return &keyspace{
		name:     name,
		channels: index.New(func(ch *channel) string { return ch.name }, 64),
		clients:  index.New(func(c *client) string { return c.id() }, 64),
		groups:   index.New(func(g *chanGroup) string { return g.name }, 8),
		pins:     newPins(),
	}
}

// empty reports whether the keyspace holds nothing.
func (ks *keyspace) empty() bool {
	return ks.clients.Len() == 0 && ks.channels.Len() == 0 && ks.groups.Len() == 0
}

// channelFor returns the live channel named name, creating it, and whether
// it did. The caller locks it and must retry if it finds it dead.
//
// Names and keys the engine keeps are copies: a caller's strings, often
// slices of a request's buffer, are never retained, and do not escape.
func (ks *keyspace) channelFor(name string) (ch *channel, created bool) {
	return ks.channels.GetOrCreate(name, func() *channel {
		return newChannel(ks, strings.Clone(name))
	})
}

// channel is one channel's membership. Joins, leaves, timeouts and state
// changes happen under mu, together with the events they publish, so that a
// channel's events come out in the order they were applied.
//
// The fields every join and leave writes come first and fill one cache line:
// the struct is padded to 128 bytes, a size the allocator aligns to 128, so on
// a busy channel only that line moves between cores with the lock.
type channel struct {
	mu        sync.RWMutex
	list      slim[*member] // see list.go; under mu
	occupancy atomic.Int64  // live members; written under mu, readable without
	low       int32         // no hole of list is below; see list.go; under mu

	state  map[*member]json.RawMessage // members that have state; under mu
	deltas *events.Deltas              // non-nil in interval mode; under mu
	dead   bool                        // removed from ks.channels; under mu
	ks     *keyspace
	name   string
	// alone is name as a list of one, shared by the results of calls that
	// joined or left this channel only (see appendName). Set at creation.
	alone [1]string
	_     [8]byte
}

// newChannel returns an empty channel of ks named name, which it keeps.
func newChannel(ks *keyspace, name string) *channel {
	ch := &channel{ks: ks, name: name}
	ch.alone[0] = name
	return ch
}

// appendName appends ch's name to list, a result's list of channels: the
// first name is ch.alone, with no room to append in place, so that a call
// that changed one channel allocates no list and a call that changed more
// copies it before it appends.
func (ch *channel) appendName(list []string) []string {
	if list == nil {
		return ch.alone[:1:1]
	}
	return append(list, ch.name)
}

// lock takes ch.mu for writing.
//
// A channel's critical sections last a few hundred nanoseconds, while a
// sync.Mutex waiter spins in rounds of microseconds before it sleeps: on a
// busy channel, most of a contended lock's time went to waiting for a lock
// already free. So a contender first polls TryLock, which only reads the lock
// word while it is held, for about as long as one critical section lasts,
// then waits in Lock as usual (which keeps sync.Mutex's fairness for those
// that wait longer).
func (ch *channel) lock() {
	for range lockPolls {
		if ch.mu.TryLock() {
			return
		}
	}
	ch.mu.Lock()
}

// lockPolls is how many times lock polls TryLock before it calls Lock.
const lockPolls = 256

// client is one uuid of a keyspace and the channels it is on. Its memberships
// change under the lock of its index shard (index.Table.Update) and are read
// without a lock.
//
// A client, its first membership and the bytes of its uuid are one
// allocation: the struct, then two bytes of the uuid's length and the bytes
// (see id). A uuid of 36 bytes on one channel is one object of 80 bytes: 32
// for the membership, 8 for the list of further ones, 2 for the length and
// 36 for the uuid, rounded up by the allocator to its size class. A
// heartbeat finds the uuid and the member on one or two neighbouring cache
// lines.
type client struct {
	first member                    // the first membership; not reused once it ends
	more  atomic.Pointer[[]*member] // copy on write; memberships after the first, nil when none
}

// maxTail is the largest array that follows a client in its allocation
// (see newClient): it holds the longest valid uuid, MaxNameRunes runes of up
// to 4 bytes, and its length. The sizes below it are chosen so that the
// whole object fills an allocator size class: 48, 64, 80, 96, 112, 128, 160,
// 256 or 416 bytes.
const maxTail = 376

// newClient returns a client for uuid, with its bytes in the same
// allocation. uuid must be valid, and so at most MaxNameRunes*4 bytes long.
func newClient(uuid string) *client {
	switch n := len(uuid) + 2; {
	case n <= 8:
		return inlineClient[[8]byte](uuid)
	case n <= 24:
		return inlineClient[[24]byte](uuid)
	case n <= 40:
		return inlineClient[[40]byte](uuid)
	case n <= 56:
		return inlineClient[[56]byte](uuid)
	case n <= 72:
		return inlineClient[[72]byte](uuid)
	case n <= 88:
		return inlineClient[[88]byte](uuid)
	case n <= 120:
		return inlineClient[[120]byte](uuid)
	case n <= 216:
		return inlineClient[[216]byte](uuid)
	case n <= maxTail:
		return inlineClient[[maxTail]byte](uuid)
	}
	panic("engine: a client for a uuid longer than any valid one")
}

// inlineClient allocates a client followed by an array B that holds the
// length of uuid (two bytes, little-endian) and its bytes, never written
// again.
func inlineClient[B any](uuid string) *client {
	w := new(struct {
		c client
		b B
	})
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&w.b)), unsafe.Sizeof(w.b))
	buf[0], buf[1] = byte(len(uuid)), byte(len(uuid)>>8)
	copy(buf[2:], uuid)
	return &w.c
}

// id returns the client's uuid. The string points into the client's own
// allocation, which lives as long as the string does.
func (c *client) id() string {
	tail := unsafe.Add(unsafe.Pointer(c), unsafe.Sizeof(client{}))
	n := int(*(*byte)(tail)) | int(*(*byte)(unsafe.Add(tail, 1)))<<8
	return unsafe.String((*byte)(unsafe.Add(tail, 2)), n)
}

// member is one (uuid, channel) membership: 32 bytes, the unit of the engine's
// memory footprint.
type member struct {
	// deadline is when the member times out, in wheel nanoseconds, or removed.
	// A refresh moves it forward with one compare-and-swap and nothing else.
	deadline atomic.Int64
	c        *client
	ch       *channel
	idx      int32  // position in ch.members() (see list.go); under ch.mu
	slot     uint32 // low bits of the wheel slot the member is filed in; under ch.mu
}

// find returns the live member of c on the channel named name, or nil. It
// takes no lock; the member may have been removed since.
//
// A member ends when its deadline becomes removed, under its channel's lock;
// the remover takes it out of c's list later, so find skips removed members.
// The first membership never moves, and a member of the list stays in every
// copy of it published until it is removed. Hence, under the lock of channel
// ch, find(ch.name) is exact: only that lock adds members of ch or ends them.
func (c *client) find(name string) *member {
	if m := &c.first; m.deadline.Load() != removed && m.ch.name == name {
		return m
	}
	if more := c.more.Load(); more != nil {
		for _, m := range *more {
			if m.ch.name == name && m.deadline.Load() != removed {
				return m
			}
		}
	}
	return nil
}

// vouches reports whether name is valid because c, which may be nil, is on
// the channel of that name: channels are made only from valid names. It looks
// only while c is on few channels, where looking costs less than validating
// the name.
func (c *client) vouches(name string) bool {
	if c == nil {
		return false
	}
	if more := c.more.Load(); more != nil && len(*more) >= vouchMax {
		return false
	}
	return c.find(name) != nil
}

// vouchMax is the most memberships beyond c's first that vouches looks through.
const vouchMax = 8

// add files m, a new membership other than the first, among c's
// memberships. Under c's shard lock.
func (c *client) add(m *member) {
	var next []*member
	if more := c.more.Load(); more != nil {
		next = make([]*member, len(*more), len(*more)+1)
		copy(next, *more)
	}
	next = append(next, m)
	c.more.Store(&next)
}

// remove takes m, removed, out of c's memberships and reports whether every
// membership c has left is removed too: then the client may leave the index,
// and the unlinking of those removed members, still to come, finds it gone
// (see unlink). Under c's shard lock.
func (c *client) remove(m *member) (empty bool) {
	live := c.first.deadline.Load() != removed
	more := c.more.Load()
	if more == nil {
		return !live
	}
	var next []*member
	for _, x := range *more {
		if x != m {
			next = append(next, x)
			live = live || x.deadline.Load() != removed
		}
	}
	if len(next) == 0 {
		c.more.Store(nil)
	} else if len(next) < len(*more) {
		c.more.Store(&next)
	}
	return !live
}

// each calls fn for each membership of c, removed ones included. No lock;
// see find.
func (c *client) each(fn func(*member)) {
	fn(&c.first)
	if more := c.more.Load(); more != nil {
		for _, m := range *more {
			fn(m)
		}
	}
}

// chanGroup is a channel group: a named set of channels.
type chanGroup struct {
	name     string
	mu       sync.Mutex
	channels map[string]struct{} // under mu
	dead     bool                // deleted; under mu
}
