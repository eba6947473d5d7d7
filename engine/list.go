package engine

import "unsafe"

// A channel's list of members, ch.members(), has holes: a removal makes the
// member's slot nil instead of moving the last member into it, and a join
// fills the newest hole before it appends.
//
// Moving the last member meant writing its idx, a store to a member that is
// in no cache, inside the channel's critical section: on a busy channel that
// miss, waited for by the next atomic, set the pace of every join and leave.
// With holes, a removal writes only its own slot and the channel's line.
//
// ch.free is a stack of the holes' positions. Each hole has an entry, and an
// entry may also be stale: a position past the end of the list, or one
// filled since, after the list was trimmed and grew back over it. Entries
// are checked when popped, and stale ones dropped. ch.occupancy is the
// number of live members, so the list has len(ch.members())-size() holes.
//
// While holes outnumber live members, every removal tidies the list: it
// trims the holes at its end and moves up to tidyMoves members from its end
// into holes, so that a list that emptied by half or more shrinks back to
// about twice its members, and its memory is given back as it would be
// without holes. Members only ever move from the end of the list into a
// hole, which the snapshot's copy of a long list relies on (see
// snapshotter.copyMembers).
//
// The list and the stack are slims, slices of 16 bytes, so that both, the
// occupancy and an RWMutex fit the channel's first line.

// slim is a slice in 16 bytes: its length and capacity in 32 bits each. A
// channel's list and stack of holes are slims; their positions are int32s
// anyway.
type slim[T any] struct {
	p    *T // the first element of the backing array, which it keeps alive
	n, c int32
}

// get returns the slice.
func (s *slim[T]) get() []T {
	if s.p == nil {
		return nil
	}
	return unsafe.Slice(s.p, s.c)[:s.n]
}

// set makes the slim v, which must have fewer than 2^31 elements.
func (s *slim[T]) set(v []T) {
	if cap(v) == 0 {
		*s = slim[T]{}
		return
	}
	s.p, s.n, s.c = unsafe.SliceData(v), int32(len(v)), int32(cap(v))
}

// tidyMoves is how many members a removal moves at most while holes
// outnumber live members: more than the one hole it makes, so that the
// list shrinks.
const tidyMoves = 2

// size returns the number of live members. Under ch.mu, or approximate.
func (ch *channel) size() int { return int(ch.occupancy.Load()) }

// members returns ch's list of members, holes included. Under ch.mu.
func (ch *channel) members() []*member { return ch.list.get() }

// place adds m to ch's list: into the newest hole, or at the end when there
// is none. Under ch.mu.
func (ch *channel) place(m *member) {
	live := ch.size() + 1
	ms := ch.members()
	if len(ms) >= live {
		if i, ok := ch.popHole(ms); ok {
			m.idx = i
			ms[i] = m
			ch.occupancy.Store(int64(live))
			return
		}
	}
	ch.free.n = 0 // no holes: every entry is stale
	m.idx = int32(len(ms))
	ch.list.set(append(ms, m))
	ch.occupancy.Store(int64(live))
}

// popHole pops the newest hole of ms, ch's list, dropping stale entries;
// false if it has none. Under ch.mu.
func (ch *channel) popHole(ms []*member) (int32, bool) {
	free := ch.free.get()
	for n := len(free); n > 0; n-- {
		if i := free[n-1]; int(i) < len(ms) && ms[i] == nil {
			ch.free.n = int32(n - 1)
			return i, true
		}
	}
	ch.free.n = 0
	return 0, false
}

// unplace takes m out of ch's list, leaving a hole. Under ch.mu.
func (ch *channel) unplace(m *member) {
	live := ch.size() - 1
	ms := ch.members()
	ms[m.idx] = nil
	ch.free.set(append(ch.free.get(), m.idx))
	ch.occupancy.Store(int64(live))
	if len(ms)-live > live {
		ch.tidy(live)
	}
}

// tidy shrinks ch's list, of live members and more holes, by trimming the
// holes at its end and moving up to tidyMoves members from the end into
// holes. It gives back the memory of a list or stack of holes that holds
// less than a quarter of its capacity, and rebuilds a stack of holes whose
// stale entries dominate it. Under ch.mu, after a removal.
func (ch *channel) tidy(live int) {
	ms := ch.members()
	for moves := 0; ; moves++ {
		n := len(ms)
		for n > 0 && ms[n-1] == nil {
			n--
		}
		ms = ms[:n]
		if moves == tidyMoves || n-live <= live {
			break
		}
		i, ok := ch.popHole(ms)
		if !ok {
			break // cannot happen while n > live: every hole has an entry
		}
		last := ms[n-1]
		ms[i] = last
		last.idx = i
		ms[n-1] = nil
		ms = ms[:n-1]
	}
	if c := cap(ms); c >= 1024 && len(ms) < c/4 {
		ms = append(make([]*member, 0, 2*len(ms)), ms...)
	}
	ch.list.set(ms)
	free := ch.free.get()
	if holes := len(ms) - live; len(free) > 2*holes+64 {
		// Mostly stale entries: rebuilt from the list, a sequential read
		// no longer than the pushes since the last rebuild.
		free = free[:0]
		for i, m := range ms {
			if m == nil {
				free = append(free, int32(i))
			}
		}
	}
	if c := cap(free); c >= 1024 && len(free) < c/4 {
		free = append(make([]int32, 0, 2*len(free)), free...)
	}
	ch.free.set(free)
}

// eachMember calls fn for every live member of ch, in list order. Under
// ch.mu.
func (ch *channel) eachMember(fn func(*member)) {
	for _, m := range ch.members() {
		if m != nil {
			fn(m)
		}
	}
}

// page returns the live members of ch from the offset-th, at most limit: a
// part of the list itself when it has no holes, else those members
// appended to buf. It skips holes from the start of the list, so it takes
// O(offset+limit) when the list has holes, and O(limit) when it has none.
// Under ch.mu.
func (ch *channel) page(offset, limit int, buf []*member) []*member {
	n := ch.size()
	if offset >= n || limit <= 0 {
		return buf
	}
	ms := ch.members()
	if len(ms) == n { // no holes
		return ms[offset:min(n, offset+limit)]
	}
	for _, m := range ms {
		switch {
		case m == nil:
		case offset > 0:
			offset--
		default:
			buf = append(buf, m)
			if limit--; limit == 0 {
				return buf
			}
		}
	}
	return buf
}
