package engine

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

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
	// memberships ((uuid, channel) pairs), and distinct (sub key, uuid) pairs.
	SubKeys, Channels, Members, UUIDs, Groups int
	// Taken is the wall clock (Config.Now) when the snapshot began.
	Taken time.Time
	// Overdue, for Restore only, counts the members whose deadline had
	// passed: they time out right after the restore.
	Overdue int
}

// snapChunk is how many members Snapshot reads under one hold of a channel's
// read lock, after it has copied the channel's list of members.
const snapChunk = 256

// Snapshot writes everything e holds to w: for every sub key its channels
// with their members, each member's deadline and state, the pending deltas
// of channels in interval mode, and the channel groups; and the last
// timetoken the engine's events carried. Restore reads it back into a new
// engine. It returns what it wrote, and the first error of w.
//
// # Consistency
//
// Snapshot runs beside heartbeats, leaves and expiry, and stops none of
// them. It reads each channel's list of members at one instant, under the
// channel's read lock, and then each of those members' deadline and state a
// few hundred at a time under the same lock, writing outside it. So:
//
//   - a member present for the whole snapshot is in it, once;
//   - nothing is in it that was not present while it ran: a member that
//     left or timed out after its channel's list was read is left out, and
//     one that joined after it is missing;
//   - each deadline and state is one the member had while the snapshot ran;
//   - each channel group is as it was at one instant.
//
// Different channels are read at different instants. A snapshot of an
// engine that nothing changes, after Close for instance, is exact.
//
// A channel's read lock is held while its list of members is copied (about
// a millisecond per million members) and then for a few hundred members at a
// time: a heartbeat of a present member takes no lock and never waits for
// Snapshot; a join or leave on that channel may wait that long.
//
// # Format
//
// The snapshot is binary and versioned (SnapshotVersion), cut into blocks
// of 64 KiB each checked by a CRC-32C, so that Restore detects damage,
// truncation and foreign input. Deadlines are stored as wall-clock instants
// (Config.Now), so that the time a process was down counts against them. A
// member takes about 10 bytes besides its uuid, which is stored once per sub
// key, and its state.
//
// # Lifecycle
//
// Snapshot may run at any time, several at once, and also after Close: a
// closed engine keeps what it held, expires nothing and changes no more,
// which makes Close followed by Snapshot the way to save the final state on
// shutdown. It is the one method that works after Close.
func (e *Engine) Snapshot(w io.Writer) (SnapshotInfo, error) {
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
	s := snapshotter{sw: sw, baseWheel: baseWheel, info: &info}
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

	// numbers holds the number of each uuid named so far in the current sub
	// key that is on more than one channel; uuids on one channel, most of
	// them, are named where they are and not remembered.
	numbers map[*client]uint64
	named   uint64 // uuids named so far in the current sub key

	members []*member // a channel's members, copied under its lock
	chunk   [snapChunk]snapMember
	groups  []string
}

// snapMember is one member as Snapshot read it under the channel's lock.
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
		return s.sw.err == nil
	})
	ks.groups.Range(func(g *chanGroup) bool {
		s.group(g)
		return s.sw.err == nil
	})
	s.info.UUIDs += int(s.named)
}

// channel writes ch: the list of its members as it is at one instant, then
// their deadlines and states a chunk at a time (see Snapshot).
func (s *snapshotter) channel(ch *channel) {
	var deltas *events.DeltasState
	ch.mu.RLock()
	if ch.dead {
		ch.mu.RUnlock()
		return
	}
	s.members = append(s.members[:0], ch.members...)
	if ch.deltas != nil {
		st := ch.deltas.State() // its lists are never written again: see Deltas.State
		deltas = &st
	}
	ch.mu.RUnlock()

	sw := s.sw
	sw.byte(tagChannel)
	sw.string(ch.name)
	s.info.Channels++
	for start := 0; start < len(s.members); start += snapChunk {
		n := s.readChunk(ch, s.members[start:min(start+snapChunk, len(s.members))])
		for i := range n {
			s.member(&s.chunk[i])
		}
		clear(s.chunk[:n])
		if sw.err != nil {
			break
		}
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

// readChunk reads the members of ms that are still present into s.chunk,
// under ch's read lock, and returns how many it read.
func (s *snapshotter) readChunk(ch *channel, ms []*member) int {
	n := 0
	ch.mu.RLock()
	for _, m := range ms {
		d := m.deadline.Load()
		if d == removed {
			continue // it left since the list was read
		}
		s.chunk[n] = snapMember{c: m.c, deadline: d, state: ch.state[m]}
		n++
	}
	ch.mu.RUnlock()
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
		sw.string(m.c.id)
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
	if g.dead {
		g.mu.Unlock()
		return
	}
	s.groups = s.groups[:0]
	for ch := range g.channels {
		s.groups = append(s.groups, ch)
	}
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
