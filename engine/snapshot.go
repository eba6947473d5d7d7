package engine

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/presenced/presence/events"
)

// Errors of Restore. The format errors wrap ErrSnapshotCorrupt,
// ErrSnapshotTruncated or ErrSnapshotVersion and say where the input went
// wrong; a Restore that returns any error has restored nothing.
var (
	// ErrSnapshotCorrupt: the input is not a presence snapshot, fails a
	// checksum, or holds something no snapshot holds (an invalid name, a
	// member twice on a channel, counts that do not add up).
	ErrSnapshotCorrupt = errors.New("presence: snapshot corrupt")
	// ErrSnapshotTruncated: the input ends before the snapshot does.
	ErrSnapshotTruncated = errors.New("presence: snapshot truncated")
	// ErrSnapshotVersion: the snapshot is of a format version this build
	// does not read.
	ErrSnapshotVersion = errors.New("presence: unsupported snapshot version")
	// ErrNotEmpty: Restore into an engine that already holds something.
	ErrNotEmpty = errors.New("presence: engine not empty")
)

// SnapshotInfo describes a snapshot that Snapshot wrote or Restore read.
type SnapshotInfo struct {
	// Bytes is the size of the snapshot.
	Bytes int64
	// SubKeys, Channels, Members, UUIDs and Groups count what it holds:
	// Members counts memberships ((uuid, channel) pairs), UUIDs distinct
	// (sub key, uuid) pairs. For Snapshot, UUIDs counts the uuids it named,
	// which is one more for each uuid that was on one channel when it was
	// first written and on another by the time that one was.
	SubKeys, Channels, Members, UUIDs, Groups int
	// Taken is the wall clock (Config.Now) when the snapshot began.
	Taken time.Time
	// Overdue, for Restore only, counts the members whose deadline had
	// passed: they time out right after the restore.
	Overdue int
	// LongestHold, for Snapshot only, is the longest Snapshot held the lock
	// of one channel or channel group: the longest a join, leave or state
	// change could have waited for it.
	LongestHold time.Duration
}

// snapChunk is how many members Snapshot reads under one hold of a channel's
// read lock, after it has copied the channel's list of members.
const snapChunk = 256

// snapCopyChunk is how many members of a channel's list Snapshot copies
// under one hold of the channel's read lock: 128 KiB of pointers, copied in
// tens of microseconds.
const snapCopyChunk = 1 << 14

// Snapshot writes everything e holds to w: for every sub key its channels
// with their members, each member's deadline and state, the pending deltas
// of channels in interval mode, and the channel groups; and the last
// timetoken the engine's events carried. Restore reads it back into a new
// engine. It returns what it wrote, and the first error of w.
//
// # Consistency
//
// Snapshot runs beside heartbeats, leaves and expiry, and stops none of
// them. It copies each channel's list of members under the channel's read
// lock, and then reads those members' deadlines and states a few hundred
// at a time (the states under the same lock), writing outside it. So:
//
//   - a member present for the whole snapshot is in it, once;
//   - nothing is in it that was not present while it ran: a member that
//     left or timed out after its channel's list was copied is left out, and
//     one that joined after it may be missing;
//   - each deadline and state is one the member had while the snapshot ran;
//   - a channel of up to 16,384 members is copied at one instant, so its
//     members are those of that instant, less those that left since; a
//     larger one is copied 16,384 members at a time, so a member that joins
//     or leaves meanwhile may or may not be in it;
//   - each channel group is as it was at one instant.
//
// Different channels are read at different instants. A snapshot of an
// engine that nothing changes, after Close for instance, is exact.
//
// A channel's read lock is held while at most 16,384 member pointers are
// copied (tens of microseconds) or the states of a few hundred members are
// read: a heartbeat of a present member takes no lock and never waits for
// Snapshot, and a join, leave or state change on the channel waits about
// that long at most. SnapshotInfo.LongestHold tells the longest hold of a
// run, which includes any time the goroutine was descheduled meanwhile.
// Snapshot also lets other goroutines run every 100 µs or so, so that on a
// busy machine a heartbeat's goroutine is not queued behind it for long.
//
// # Format
//
// The snapshot is binary and versioned (SnapshotVersion), cut into blocks
// of 64 KiB each checked by a CRC-32C, so that Restore detects damage,
// truncation and foreign input. Deadlines are stored as wall-clock instants
// (Config.Now), so that the time a process was down counts against them. A
// member takes about 8 bytes besides its uuid, which is stored once per sub
// key, and its state. The format is described in snapshot_format.go.
//
// # Lifecycle
//
// Snapshot may run at any time, several at once, and also after Close: a
// closed engine keeps what it held, expires nothing and changes no more,
// which makes Close followed by Snapshot the way to save the final state on
// shutdown. It is the one method that works after Close.
func (e *Engine) Snapshot(w io.Writer) (SnapshotInfo, error) {
	return e.snapshot(w, snapOptions{copyChunk: snapCopyChunk})
}

// snapOptions tune a snapshot for tests.
type snapOptions struct {
	copyChunk int // members copied per hold of a channel's lock
	// between, if not nil, runs between two chunks of a channel's list,
	// with no lock held.
	between func()
}

// snapshot is Snapshot with options o.
func (e *Engine) snapshot(w io.Writer, o snapOptions) (SnapshotInfo, error) {
	sw := newSnapWriter(w)
	base := e.cfg.Now()
	info := SnapshotInfo{Taken: base}
	// Deadlines are wheel nanoseconds; at the base instant the wheel read
	// baseWheel, so a deadline d is d-baseWheel after base on the wall
	// clock. Wall clock steps during the snapshot do not matter: both are
	// read once.
	baseWheel := e.wheel.Now()
	sw.byte(tagHeader)
	sw.varint(base.UnixNano())

	var keyspaces []*keyspace
	e.keyspaces.Range(func(ks *keyspace) bool {
		keyspaces = append(keyspaces, ks)
		return true
	})
	slices.SortFunc(keyspaces, func(a, b *keyspace) int { return strings.Compare(a.name, b.name) })
	s := snapshotter{sw: sw, baseWheel: baseWheel, info: &info, opts: o}
	for _, ks := range keyspaces {
		s.keyspace(ks)
		if sw.err != nil {
			break
		}
	}

	// The last timetoken is read after every channel: an event published
	// before a change the snapshot holds has a timetoken at most this one.
	sw.byte(tagEnd)
	sw.uvarint(uint64(info.SubKeys))
	sw.uvarint(uint64(info.Channels))
	sw.uvarint(uint64(info.Members))
	sw.uvarint(uint64(info.Groups))
	sw.varint(e.bus.LastTimetoken())
	sw.varint(e.cfg.Now().UnixNano())
	err := sw.flush()
	info.Bytes = sw.n
	return info, err
}

// snapshotter is the state of one Snapshot call.
type snapshotter struct {
	sw        *snapWriter
	baseWheel int64
	info      *SnapshotInfo
	opts      snapOptions
	since     time.Time // when the lock held now was taken
	yielded   time.Time // when the snapshot last let other goroutines run

	// numbers holds the number of each uuid named so far in the current sub
	// key that is on more than one channel; uuids on one channel, most of
	// them, are named where they are and not remembered.
	numbers map[*client]uint64
	named   uint64 // uuids named so far in the current sub key

	members []*member // a channel's members, copied under its lock
	chunk   [snapChunk]snapMember
	groups  []string
}

// snapMember is one member as Snapshot read it.
type snapMember struct {
	c        *client
	deadline int64
	state    json.RawMessage
}

func (s *snapshotter) keyspace(ks *keyspace) {
	s.sw.byte(tagSubKey)
	s.sw.string(ks.name)
	s.info.SubKeys++
	clear(s.numbers)
	s.named = 0

	ks.channels.Range(func(ch *channel) bool {
		s.channel(ch)
		s.yield()
		return s.sw.err == nil
	})
	ks.groups.Range(func(g *chanGroup) bool {
		s.group(g)
		s.yield()
		return s.sw.err == nil
	})
	s.info.UUIDs += int(s.named)
}

// channel writes ch: its members (see copyMembers), then their deadlines
// and states a chunk at a time under the channel's read lock.
func (s *snapshotter) channel(ch *channel) {
	deltas, withState, ok := s.copyMembers(ch)
	if !ok {
		return
	}
	sw := s.sw
	sw.byte(tagChannel)
	sw.string(ch.name)
	s.info.Channels++
	for start := 0; start < len(s.members); start += snapChunk {
		n := s.readChunk(ch, s.members[start:min(start+snapChunk, len(s.members))], withState)
		for i := range n {
			s.member(&s.chunk[i])
		}
		clear(s.chunk[:n])
		if sw.err != nil {
			break
		}
		s.yield()
	}
	clear(s.members) // keep no member alive past the snapshot
	if sw.err != nil {
		return
	}
	sw.uvarint(refEnd)
	if deltas == nil {
		sw.byte(modeAnnounce)
		return
	}
	sw.byte(modeInterval)
	sw.uvarint(uint64(deltas.Adds))
	if deltas.Overflowed {
		sw.byte(1)
	} else {
		sw.byte(0)
	}
	for _, list := range [...][]string{deltas.Joined, deltas.Left, deltas.TimedOut} {
		sw.uvarint(uint64(len(list)))
		for _, u := range list {
			sw.string(u)
		}
	}
}

// copyMembers copies the list of ch's members into s.members, and returns
// its pending deltas (nil in announce mode) and whether any member had
// state while it copied; false if ch is gone.
//
// A list of up to snapCopyChunk members is copied under one hold of the read
// lock: it is the list at that instant. A longer one is copied from its end
// back, a chunk at a time, releasing the lock in between, so that a join
// or leave waits for one chunk at most. Members only ever move from the end
// of the list into a hole a removal left, so a member present all along is
// either copied already or still ahead, before the part copied, and is
// copied at least once: those copied twice (moved forward after they were
// copied) are dropped before the list is written.
func (s *snapshotter) copyMembers(ch *channel) (deltas *events.DeltasState, withState, ok bool) {
	// The copy's memory is allocated before the lock is taken: allocating
	// megabytes under it could hold it for a garbage collector's assist.
	if n := int(ch.occupancy.Load()); cap(s.members) < n {
		s.members = make([]*member, 0, n+n/8)
	}
	s.members = s.members[:0]
	s.rlock(ch)
	if ch.dead {
		s.runlock(ch)
		return nil, false, false
	}
	if ch.deltas != nil {
		st := ch.deltas.State() // its lists are never written again: see Deltas.State
		deltas = &st
	}
	end := len(ch.members())
	chunks := 0
	for {
		start := max(end-s.opts.copyChunk, 0)
		for _, m := range ch.members()[start:end] {
			if m != nil { // not a hole (see list.go)
				s.members = append(s.members, m)
			}
		}
		withState = withState || len(ch.state) > 0
		chunks++
		s.runlock(ch)
		if start == 0 {
			break
		}
		if s.opts.between != nil {
			s.opts.between()
		}
		s.rlock(ch)
		if ch.dead { // every member left: those copied are skipped as removed
			s.runlock(ch)
			break
		}
		end = min(start, len(ch.members()))
	}
	if chunks > 1 {
		slices.SortFunc(s.members, func(a, b *member) int {
			return cmp.Compare(uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(b)))
		})
		s.members = slices.Compact(s.members)
	}
	return deltas, withState, true
}

// readChunk reads the members of ms that are still present into s.chunk,
// and returns how many it read. The deadlines, atomic, are read without a
// lock; the states, if withState, under ch's read lock. A channel where no
// member had state when its list was copied is not locked again: a state
// set since is one its member did not have all along.
func (s *snapshotter) readChunk(ch *channel, ms []*member, withState bool) int {
	n := 0
	if withState {
		s.rlock(ch)
	}
	for _, m := range ms {
		d := m.deadline.Load()
		if d == removed {
			continue // it left since the list was copied
		}
		s.chunk[n] = snapMember{c: m.c, deadline: d}
		if withState {
			s.chunk[n].state = ch.state[m]
		}
		n++
	}
	if withState {
		s.runlock(ch)
	}
	return n
}

// member writes one member.
func (s *snapshotter) member(m *snapMember) {
	sw := s.sw
	switch num, ok := s.numbers[m.c]; {
	case ok:
		sw.uvarint(refNumbers + num)
	default:
		sw.uvarint(refNamed)
		sw.string(m.c.id())
		if m.c.more.Load() != nil { // on other channels too: named once, then numbered
			if s.numbers == nil {
				s.numbers = make(map[*client]uint64)
			}
			s.numbers[m.c] = s.named
		}
		s.named++
	}
	sw.varint(m.deadline - s.baseWheel)
	sw.bytes(m.state)
	s.info.Members++
}

// group writes g as it is at one instant.
func (s *snapshotter) group(g *chanGroup) {
	g.mu.Lock()
	held := time.Now()
	if g.dead {
		s.held(held)
		g.mu.Unlock()
		return
	}
	s.groups = s.groups[:0]
	for ch := range g.channels {
		s.groups = append(s.groups, ch)
	}
	s.held(held)
	g.mu.Unlock()
	slices.Sort(s.groups)
	sw := s.sw
	sw.byte(tagGroup)
	sw.string(g.name)
	sw.uvarint(uint64(len(s.groups)))
	for _, ch := range s.groups {
		sw.string(ch)
	}
	s.info.Groups++
}

// rlock takes ch's read lock and notes when.
func (s *snapshotter) rlock(ch *channel) {
	ch.mu.RLock()
	s.since = time.Now()
}

// runlock releases ch's read lock and records how long it was held.
func (s *snapshotter) runlock(ch *channel) {
	s.held(s.since)
	ch.mu.RUnlock()
}

// held records a lock held since since.
func (s *snapshotter) held(since time.Time) {
	s.info.LongestHold = max(s.info.LongestHold, time.Since(since))
}

// yieldEvery is how long Snapshot runs before it lets other goroutines run.
const yieldEvery = 100 * time.Microsecond

// yield lets other goroutines run if the snapshot has run for yieldEvery
// since it last did. It is called with no lock held. A snapshot is long
// work on one goroutine; without it, a heartbeat whose goroutine is queued
// behind the snapshot's (every processor busy, the garbage collector's
// worker on one of them, say) could wait out the scheduler's 10 ms time
// slice.
func (s *snapshotter) yield() {
	if now := time.Now(); now.Sub(s.yielded) >= yieldEvery {
		runtime.Gosched()
		s.yielded = time.Now()
	}
}
