package engine

import "unsafe"

// A channel's list of members, ch.members(), has holes: a removal makes the
// member's slot nil instead of moving the last member into it, and a join
// fills the lowest hole before it appends.
//
// Moving the last member meant writing its idx, a store to a member that is
// in no cache, inside the channel's critical section: on a busy channel that
// miss, waited for by the next atomic, set the pace of every join and leave.
// With holes, a removal writes its own slot and the channel's first line,
// nothing else.
//
// No hole is below ch.low, and a join looks for one from there, reading at
// most holeScan slots: only while holes are dense enough above ch.low that
// one is likely within that many (else it appends, and the holes wait for
// more of them or for the list to tidy). A join that finds none moves
// ch.low past the slots it read, and a list without holes keeps ch.low at
// its end, so that a page of here now can start at its offset when that is
// below ch.low. ch.occupancy is the number of live members, so the list has
// len(ch.members())-size() holes.
//
// While holes outnumber live members, every removal tidies the list: it
// trims the holes at its end and moves up to tidyMoves members from its end
// into the lowest holes, so that a list that emptied by half or more shrinks
// back to about twice its members, and its memory is given back as it would
// be without holes. Members only ever move from the end of the list into a
// hole, which the snapshot's copy of a long list relies on (see
// snapshotter.copyMembers).
//
// The list is a slim, a slice of 16 bytes, so that it, the occupancy, ch.low
// and an RWMutex fit the channel's first line.

// slim is a slice in 16 bytes: its length and capacity in 32 bits each, as
// positions in a channel's list are anyway.
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

const (
	// holeScan is how many slots a join reads at most looking for a hole:
	// two cache lines.
	holeScan = 16
	// tidyScan is how many slots a removal reads at most looking for holes
	// to move members into, sequentially.
	tidyScan = 4096
	// tidyMoves is how many members a removal moves at most while holes
	// outnumber live members: more than the one hole it makes, so that the
	// list shrinks.
	tidyMoves = 2
)

// size returns the number of live members. Under ch.mu, or approximate.
func (ch *channel) size() int { return int(ch.occupancy.Load()) }

// members returns ch's list of members, holes included. Under ch.mu.
func (ch *channel) members() []*member { return ch.list.get() }

// place adds m to ch's list: into the lowest hole if one is likely near, or
// at the end. Under ch.mu.
func (ch *channel) place(m *member) {
	live := ch.size() + 1
	ms := ch.members()
	if holes := len(ms) - live + 1; holes > 0 && holes*holeScan >= len(ms)-int(ch.low) {
		if i, ok := ch.nextHole(ms, holeScan); ok {
			m.idx = i
			ms[i] = m
			ch.low = i + 1
			ch.occupancy.Store(int64(live))
			return
		}
	}
	m.idx = int32(len(ms))
	if len(ms) == live-1 {
		ch.low = m.idx + 1 // a list without holes keeps ch.low at its end
	}
	ch.list.set(append(ms, m))
	ch.occupancy.Store(int64(live))
}

// nextHole returns the lowest hole of ms, ch's list, reading at most limit
// slots from ch.low; false if there is none among them, and then ch.low is
// moved past them. Under ch.mu.
func (ch *channel) nextHole(ms []*member, limit int) (int32, bool) {
	i, end := int(ch.low), min(len(ms), int(ch.low)+limit)
	for ; i < end; i++ {
		if ms[i] == nil {
			ch.low = int32(i)
			return int32(i), true
		}
	}
	ch.low = int32(i)
	return 0, false
}

// unplace takes m out of ch's list, leaving a hole. Under ch.mu.
func (ch *channel) unplace(m *member) {
	live := ch.size() - 1
	ms := ch.members()
	ms[m.idx] = nil
	ch.low = min(ch.low, m.idx)
	ch.occupancy.Store(int64(live))
	if len(ms)-live > live {
		ch.tidy(live)
	}
}

// tidy shrinks ch's list, of live members and more holes, by trimming the
// holes at its end and moving up to tidyMoves members from the end into the
// lowest holes, and gives back the memory of a list that holds less than a
// quarter of its capacity. Under ch.mu, after a removal.
func (ch *channel) tidy(live int) {
	ms := ch.members()
	for moves := 0; ; moves++ {
		n := len(ms)
		for n > 0 && ms[n-1] == nil {
			n--
		}
		ms = ms[:n]
		ch.low = min(ch.low, int32(n))
		if moves == tidyMoves || n-live <= live {
			break
		}
		i, ok := ch.nextHole(ms[:n-1], tidyScan)
		if !ok {
			break // the next removal reads on
		}
		last := ms[n-1]
		ms[i] = last
		last.idx = i
		ch.low = i + 1
		ms[n-1] = nil
		ms = ms[:n-1]
	}
	if c := cap(ms); c >= 1024 && len(ms) < c/4 {
		ms = append(make([]*member, 0, 2*len(ms)), ms...)
	}
	ch.list.set(ms)
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
// part of the list itself when it has no holes, else a copy. With holes, it
// reads the slots from the offset-th or from ch.low, whichever is lower (the
// slots below ch.low are all live), up to its last member: O(limit) plus the
// holes and the members it passes, at most the whole list. Without holes it
// takes O(limit). Under ch.mu.
func (ch *channel) page(offset, limit int) []*member {
	n := ch.size()
	if offset >= n || limit <= 0 {
		return nil
	}
	ms := ch.members()
	if len(ms) == n { // no holes
		return ms[offset:min(n, offset+limit)]
	}
	out := make([]*member, 0, min(limit, n-offset))
	skip := min(offset, int(ch.low))
	ms, offset = ms[skip:], offset-skip
	for _, m := range ms {
		switch {
		case m == nil:
		case offset > 0:
			offset--
		default:
			out = append(out, m)
			if limit--; limit == 0 {
				return out
			}
		}
	}
	return out
}
