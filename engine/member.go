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
		clients:  index.New(func(c *client) string { return c.id }, 64),
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
	members   []*member                   // dense; member.idx is the position; under mu
	occupancy atomic.Int64                // len(members), readable without mu
	state     map[*member]json.RawMessage // members that have state; under mu

	deltas *events.Deltas // non-nil in interval mode; under mu
	dead   bool           // removed from ks.channels; under mu
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
// A client, its first membership and (for uuids up to 96 bytes) the bytes of
// its uuid are one allocation: a uuid on one channel costs one heap object, and
// a heartbeat finds id, m0 and the member in neighbouring cache lines.
type client struct {
	id    string
	m0    atomic.Pointer[member]
	more  atomic.Pointer[[]*member] // copy on write; nil when the uuid is on one channel
	first member                    // the first membership; not reused once it ends
}

// newClient returns a client for uuid with id in the same allocation.
func newClient(uuid string) *client {
	switch n := len(uuid); {
	case n <= 16:
		return inlineClient[[16]byte](uuid)
	case n <= 32:
		return inlineClient[[32]byte](uuid)
	case n <= 48:
		return inlineClient[[48]byte](uuid)
	case n <= 64:
		return inlineClient[[64]byte](uuid)
	case n <= 96:
		return inlineClient[[96]byte](uuid)
	}
	return &client{id: strings.Clone(uuid)}
}

// inlineClient allocates a client followed by an array B that holds the bytes
// of id. The string points into the array, which is never written again.
func inlineClient[B any](uuid string) *client {
	w := new(struct {
		c client
		b B
	})
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&w.b)), unsafe.Sizeof(w.b))
	n := copy(buf, uuid)
	w.c.id = unsafe.String(&buf[0], n)
	return &w.c
}

// member is one (uuid, channel) membership: 32 bytes, the unit of the engine's
// memory footprint.
type member struct {
	// deadline is when the member times out, in wheel nanoseconds, or removed.
	// A refresh moves it forward with one compare-and-swap and nothing else.
	deadline atomic.Int64
	c        *client
	ch       *channel
	idx      int32  // position in ch.members; under ch.mu
	slot     uint32 // low bits of the wheel slot the member is filed in; under ch.mu
}

// find returns the live member of c on the channel named name, or nil. It
// takes no lock; the member may have been removed since.
//
// A member ends when its deadline becomes removed, under its channel's lock;
// the remover takes it out of c's lists later, so find skips removed members.
// It reads more before m0: remove moves a member from more into m0 before it
// republishes more, so a reader in this order never misses a member that stays
// present. Hence, under the lock of channel ch, find(ch.name) is exact: only
// that lock adds members of ch or ends them.
func (c *client) find(name string) *member {
	if more := c.more.Load(); more != nil {
		for _, m := range *more {
			if m.ch.name == name && m.deadline.Load() != removed {
				return m
			}
		}
	}
	if m := c.m0.Load(); m != nil && m.ch.name == name && m.deadline.Load() != removed {
		return m
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

// add files m among c's memberships. Under c's shard lock.
func (c *client) add(m *member) {
	if c.m0.Load() == nil {
		c.m0.Store(m)
		return
	}
	var next []*member
	if more := c.more.Load(); more != nil {
		next = make([]*member, len(*more), len(*more)+1)
		copy(next, *more)
	}
	next = append(next, m)
	c.more.Store(&next)
}

// remove takes m out of c's memberships and reports whether any remain. Under
// c's shard lock.
func (c *client) remove(m *member) (empty bool) {
	more := c.more.Load()
	if c.m0.Load() == m {
		if more == nil {
			c.m0.Store(nil)
			return true
		}
		last := (*more)[len(*more)-1]
		c.m0.Store(last)
		c.setMore((*more)[:len(*more)-1])
		return false
	}
	if more != nil {
		next := make([]*member, 0, len(*more))
		for _, x := range *more {
			if x != m {
				next = append(next, x)
			}
		}
		c.setMore(next)
	}
	return c.m0.Load() == nil
}

func (c *client) setMore(ms []*member) {
	if len(ms) == 0 {
		c.more.Store(nil)
		return
	}
	cp := append([]*member(nil), ms...)
	c.more.Store(&cp)
}

// each calls fn for each membership of c. No lock; see find.
func (c *client) each(fn func(*member)) {
	if m := c.m0.Load(); m != nil {
		fn(m)
	}
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
