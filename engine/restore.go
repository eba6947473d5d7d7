package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
)

// Restore reads a snapshot written by Snapshot into e, which must hold
// nothing yet: call it on a new engine, before it serves. Subscribe first to
// see the timeouts it causes.
//
// Restored members are present at once, with their state, and no join event
// is sent for them: the first heartbeat of each is a refresh. Deadlines were
// saved as wall-clock instants (Config.Now), so the time between the
// snapshot and the restore counts: a member whose deadline passed meanwhile
// times out right after the restore, within one Tick, with one timeout event
// (or an entry in its channel's next interval event); every other member
// keeps the time it had left, no more than MaxTimeout. Channels above
// AnnounceMax are in interval mode, with the deltas that were pending;
// channel groups are as they were. Every event the engine publishes after
// Restore has a timetoken greater than those of the events before the
// snapshot, and than the wall clock when the snapshot ended (see
// events.Bus.RaiseFloor), so a subscriber that resumes with a cursor from
// before the restart never sees time go back.
//
// Restore reads and checks the whole snapshot before it changes anything:
// on any error, e is left as it was. The format's errors say what is wrong
// and where, and wrap ErrSnapshotTruncated, ErrSnapshotCorrupt (which also
// covers invalid names, duplicates and counts that do not add up) or
// ErrSnapshotVersion. A snapshot that does not fit e's Config returns an
// error wrapping ErrCapacity (more members than MaxMembers), ErrStateTooLarge
// (a state above MaxStateBytes) or ErrGroupFull (a group above
// MaxGroupChannels). An error of r is returned wrapped. If e already holds
// something, Restore returns ErrNotEmpty; after Close, ErrClosed.
//
// Restore must not run beside calls that change e (heartbeats, leaves, state
// and group calls): those belong after it. Queries and Subscribe may run
// beside it, and see nothing until it installs the snapshot.
func (e *Engine) Restore(r io.Reader) (SnapshotInfo, error) {
	if e.closed.Load() {
		return SnapshotInfo{}, ErrClosed
	}
	e.restoring.Lock()
	defer e.restoring.Unlock()
	if err := e.checkEmpty(); err != nil {
		return SnapshotInfo{}, err
	}
	rs := e.newRestorer()
	if err := rs.read(r); err != nil {
		return SnapshotInfo{}, err
	}
	if err := e.checkEmpty(); err != nil {
		return SnapshotInfo{}, err
	}
	if e.closed.Load() {
		return SnapshotInfo{}, ErrClosed
	}
	rs.install()
	return rs.info, nil
}

// checkEmpty returns an error wrapping ErrNotEmpty if e holds anything.
func (e *Engine) checkEmpty() error {
	var err error
	e.keyspaces.Range(func(ks *keyspace) bool {
		if !ks.empty() {
			err = fmt.Errorf("%w: it holds sub key %q; Restore into a new engine", ErrNotEmpty, ks.name)
		}
		return err == nil
	})
	return err
}

// restorer is the state of one Restore: what it read so far, built into the
// engine's own structures, which nothing else can reach until install.
type restorer struct {
	e    *Engine
	sr   *snapReader
	info SnapshotInfo

	// Time: a deadline saved as wall-clock instant t becomes wheel time
	// wheelNow + (t - wallNow), at most maxLeft ahead.
	wallNow, wheelNow int64
	maxLeft           int64

	base      int64 // the snapshot's base instant (Unix ns)
	hasBase   bool
	timetoken int64 // the floor of the engine's timetokens after restore

	keyspaces []*keyspace
	ks        *keyspace // the current sub key, nil before the first
	uuids     []*client // the current sub key's uuids by number
	special   []restoredChannel

	// Counts of the records read, checked against the end record.
	subKeys, channels, members, groups int
}

// restoredChannel is a channel whose mode install sets: one above
// AnnounceMax, or one that had deltas pending.
type restoredChannel struct {
	ch     *channel
	deltas *events.DeltasState // nil if it was in announce mode
}

// maxBehind bounds how far in the past a restored deadline is put: a member
// that far overdue is overdue all the same, and the bound keeps wheel
// arithmetic far from overflow.
const maxBehind = int64(1 << 50) // 13 days

func (e *Engine) newRestorer() *restorer {
	return &restorer{
		e:        e,
		wallNow:  e.cfg.Now().UnixNano(),
		wheelNow: e.wheel.Now(),
		maxLeft:  int64(min(e.cfg.MaxTimeout, time.Duration(1<<62))),
	}
}

// read decodes the whole snapshot from r into rs.
func (rs *restorer) read(r io.Reader) error {
	sr, err := newSnapReader(r)
	if err != nil {
		return err
	}
	rs.sr = sr
	for {
		tag, err := sr.byte()
		if err != nil {
			return err
		}
		if tag != tagHeader && !rs.hasBase {
			return sr.corrupt("record %q before the header record", tag)
		}
		if (tag == tagChannel || tag == tagGroup) && rs.ks == nil {
			return sr.corrupt("record %q before the first sub key", tag)
		}
		switch tag {
		case tagHeader:
			if rs.hasBase {
				return sr.corrupt("a second header record")
			}
			if rs.base, err = sr.varint(); err != nil {
				return err
			}
			rs.hasBase = true
			rs.info.Taken = time.Unix(0, rs.base)
		case tagSubKey:
			err = rs.subKey()
		case tagChannel:
			err = rs.channel()
		case tagGroup:
			err = rs.group()
		case tagEnd:
			if err := rs.end(); err != nil {
				return err
			}
			rs.info.Bytes = sr.off
			return nil
		default:
			return sr.corrupt("unknown record %q", tag)
		}
		if err != nil {
			return err
		}
	}
}

func (rs *restorer) subKey() error {
	sr := rs.sr
	name, err := sr.name("sub key")
	if err != nil {
		return err
	}
	if err := ValidateSubKey(name); err != nil {
		return sr.corrupt("%w", err)
	}
	for _, ks := range rs.keyspaces {
		if ks.name == name {
			return sr.corrupt("sub key %q appears twice", name)
		}
	}
	rs.ks = newKeyspace(name)
	rs.keyspaces = append(rs.keyspaces, rs.ks)
	rs.uuids = rs.uuids[:0]
	rs.subKeys++
	return nil
}

func (rs *restorer) channel() error {
	sr, ks, e := rs.sr, rs.ks, rs.e
	name, err := sr.name("channel name")
	if err != nil {
		return err
	}
	if err := ValidateChannel(name); err != nil {
		return sr.corrupt("sub key %q: %w", ks.name, err)
	}
	if ks.channels.Get(name) != nil {
		return sr.corrupt("sub key %q: channel %q appears twice", ks.name, name)
	}
	ch := newChannel(ks, name)
	rs.channels++
	for {
		ref, err := sr.uvarint()
		if err != nil {
			return err
		}
		if ref == refEnd {
			break
		}
		c, err := rs.uuid(ref, ch)
		if err != nil {
			return err
		}
		rel, err := sr.varint()
		if err != nil {
			return err
		}
		st, err := sr.bytes("state", e.cfg.MaxStateBytes, func(n uint64) error {
			return fmt.Errorf("%w: sub key %q, channel %q, uuid %q: the snapshot holds a state of %d bytes, at most %d (Config.MaxStateBytes)",
				ErrStateTooLarge, ks.name, name, c.id(), n, e.cfg.MaxStateBytes)
		})
		if err != nil {
			return err
		}
		if e.cfg.MaxMembers > 0 && rs.members >= e.cfg.MaxMembers {
			return fmt.Errorf("%w: the snapshot holds more than %d members (Config.MaxMembers)", ErrCapacity, e.cfg.MaxMembers)
		}
		if err := rs.member(ch, c, rel, st); err != nil {
			return err
		}
	}
	saved, err := rs.mode(ch)
	if err != nil {
		return err
	}
	ms := ch.members()
	if len(ms) == 0 {
		return nil // every member left while the snapshot read the channel
	}
	ch.list.set(ms[:len(ms):len(ms)])
	ch.low = int32(len(ms)) // no holes (see list.go)
	ch.occupancy.Store(int64(len(ms)))
	ks.channels.GetOrCreate(name, func() *channel { return ch })
	if max := e.cfg.AnnounceMax; saved != nil || (max >= 0 && len(ms) > max) {
		rs.special = append(rs.special, restoredChannel{ch: ch, deltas: saved})
	}
	return nil
}

// uuid returns the client a member reference names, creating it on the
// first mention. ch is the channel of the member, which it must not be on
// yet.
func (rs *restorer) uuid(ref uint64, ch *channel) (*client, error) {
	sr, ks := rs.sr, rs.ks
	var c *client
	if ref == refNamed {
		b, err := sr.bytes("uuid", snapMaxName, nil)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, sr.corrupt("sub key %q, channel %q: empty uuid", ks.name, ch.name)
		}
		// u is only looked up and copied: newClient copies it, the index
		// keeps no key of its own, and errors quote it.
		u := unsafe.String(&b[0], len(b))
		key := index.NewKey(u)
		if c = ks.clients.GetKey(key); c == nil {
			if err := ValidateUUID(u); err != nil {
				return nil, sr.corrupt("sub key %q, channel %q: %w", ks.name, ch.name, err)
			}
			c = newClient(u)
			ks.clients.UpdateKey(key, func(*client) *client { return c })
		}
		rs.uuids = append(rs.uuids, c)
	} else {
		n := ref - refNumbers
		if n >= uint64(len(rs.uuids)) {
			return nil, sr.corrupt("sub key %q, channel %q: uuid number %d, but %d are named so far", ks.name, ch.name, n, len(rs.uuids))
		}
		c = rs.uuids[n]
	}
	// A client without its first membership yet (first.ch nil) is on no
	// channel; find reads first.ch.
	if c.first.ch != nil && c.find(ch.name) != nil {
		return nil, sr.corrupt("sub key %q: uuid %q appears twice on channel %q", ks.name, c.id(), ch.name)
	}
	return c, nil
}

// member adds c to ch with a deadline rel after the snapshot's base and
// state st (valid until the next read).
func (rs *restorer) member(ch *channel, c *client, rel int64, st []byte) error {
	var state json.RawMessage
	if len(st) > 0 {
		var err error
		if state, err = CompactState(st, rs.e.cfg.MaxStateBytes); err != nil {
			return rs.sr.corrupt("sub key %q, channel %q, uuid %q: %w", rs.ks.name, ch.name, c.id(), err)
		}
	}
	left := min(max(satSub(satAdd(rs.base, rel), rs.wallNow), -maxBehind), rs.maxLeft)
	deadline := rs.wheelNow + left
	if left <= 0 {
		rs.info.Overdue++
	}

	var m *member
	first := c.first.ch == nil // a new client: its first membership shares its allocation
	if first {
		m = &c.first
	} else {
		m = new(member)
	}
	m.c, m.ch = c, ch
	m.deadline.Store(deadline)
	ms := ch.members()
	m.idx = int32(len(ms))
	m.slot = uint32(rs.e.wheel.SlotFor(deadline))
	ch.list.set(append(ms, m))
	if state != nil {
		if ch.state == nil {
			ch.state = make(map[*member]json.RawMessage)
		}
		ch.state[m] = state
	}
	// A member other than the first joins c's list. Nothing reads c yet:
	// the list grows in place, where client.add copies it for the sake of
	// lock-free readers.
	if !first {
		if more := c.more.Load(); more == nil {
			c.more.Store(&[]*member{m})
		} else {
			*more = append(*more, m)
		}
	}
	rs.members++
	return nil
}

// mode reads a channel's mode and returns its pending deltas, nil in
// announce mode.
func (rs *restorer) mode(ch *channel) (*events.DeltasState, error) {
	sr := rs.sr
	mode, err := sr.byte()
	if err != nil {
		return nil, err
	}
	switch mode {
	case modeAnnounce:
		return nil, nil
	case modeInterval:
	default:
		return nil, sr.corrupt("sub key %q, channel %q: unknown mode %d", rs.ks.name, ch.name, mode)
	}
	var d events.DeltasState
	adds, err := sr.uvarint()
	if err != nil {
		return nil, err
	}
	d.Adds = int(min(adds, math.MaxInt32))
	overflowed, err := sr.byte()
	if err != nil {
		return nil, err
	}
	if overflowed > 1 {
		return nil, sr.corrupt("sub key %q, channel %q: overflow flag %d", rs.ks.name, ch.name, overflowed)
	}
	d.Overflowed = overflowed == 1
	// A uuid takes at least 4 bytes of an interval event's lists: a
	// character, quotes and a comma.
	const maxList = events.MaxDeltaBytes / 4
	for _, list := range [...]*[]string{&d.Joined, &d.Left, &d.TimedOut} {
		n, err := sr.count("deltas list length", maxList)
		if err != nil {
			return nil, err
		}
		for range n {
			u, err := sr.name("uuid")
			if err != nil {
				return nil, err
			}
			if err := ValidateUUID(u); err != nil {
				return nil, sr.corrupt("sub key %q, channel %q, deltas: %w", rs.ks.name, ch.name, err)
			}
			*list = append(*list, u)
		}
	}
	if !rs.e.cfg.IntervalDeltas {
		d = events.DeltasState{Adds: d.Adds} // this engine lists no deltas
	}
	return &d, nil
}

func (rs *restorer) group() error {
	sr, ks, e := rs.sr, rs.ks, rs.e
	name, err := sr.name("group name")
	if err != nil {
		return err
	}
	if err := ValidateGroup(name); err != nil {
		return sr.corrupt("sub key %q: %w", ks.name, err)
	}
	if ks.groups.Get(name) != nil {
		return sr.corrupt("sub key %q: group %q appears twice", ks.name, name)
	}
	n, err := sr.uvarint()
	if err != nil {
		return err
	}
	if n > uint64(e.cfg.MaxGroupChannels) {
		return fmt.Errorf("%w: sub key %q, group %q holds %d channels, at most %d (Config.MaxGroupChannels)",
			ErrGroupFull, ks.name, name, n, e.cfg.MaxGroupChannels)
	}
	g := &chanGroup{name: name, channels: make(map[string]struct{}, n)}
	for range n {
		ch, err := sr.name("channel name")
		if err != nil {
			return err
		}
		if err := ValidateChannel(ch); err != nil {
			return sr.corrupt("sub key %q, group %q: %w", ks.name, name, err)
		}
		if _, dup := g.channels[ch]; dup {
			return sr.corrupt("sub key %q, group %q: channel %q appears twice", ks.name, name, ch)
		}
		g.channels[ch] = struct{}{}
	}
	ks.groups.GetOrCreate(name, func() *chanGroup { return g })
	rs.groups++
	return nil
}

// end reads the end record and checks it against what was read.
func (rs *restorer) end() error {
	sr := rs.sr
	var counts [4]uint64
	for i := range counts {
		v, err := sr.uvarint()
		if err != nil {
			return err
		}
		counts[i] = v
	}
	got := [4]uint64{uint64(rs.subKeys), uint64(rs.channels), uint64(rs.members), uint64(rs.groups)}
	if counts != got {
		return sr.corrupt("the end record counts %d sub keys, %d channels, %d members and %d groups; the snapshot holds %d, %d, %d and %d",
			counts[0], counts[1], counts[2], counts[3], got[0], got[1], got[2], got[3])
	}
	tt, err := sr.varint()
	if err != nil {
		return err
	}
	ended, err := sr.varint()
	if err != nil {
		return err
	}
	if err := sr.end(); err != nil {
		return err
	}
	// Subscribers may hold cursors read from the wall clock (a subscribe
	// handshake's), not only from events: the floor covers both.
	rs.timetoken = max(tt, ended/100)
	return nil
}

// install makes what rs read the engine's: the sub keys, the counters, the
// channels' modes, the timetoken floor, and the members' deadlines in the
// wheel, which times out the overdue ones.
func (rs *restorer) install() {
	e := rs.e
	e.bus.RaiseFloor(rs.timetoken)
	channels := 0
	for _, ks := range rs.keyspaces {
		if ks.empty() {
			continue
		}
		for {
			// An empty keyspace of the same name (left by a call that
			// failed, say) gives way.
			old, created := e.keyspaces.GetOrCreate(ks.name, func() *keyspace { return ks })
			if created {
				break
			}
			e.keyspaces.DeleteIf(ks.name, old)
		}
		channels += ks.channels.Len()
		rs.info.SubKeys++
		rs.info.Channels += ks.channels.Len()
		rs.info.UUIDs += ks.clients.Len()
		rs.info.Groups += ks.groups.Len()
	}
	rs.info.Members = rs.members
	e.count.add(nil, &counts{cRestored: int64(rs.members), cChannels: int64(channels)})
	if e.cfg.MaxMembers > 0 {
		e.reserved.Add(int64(rs.members))
	}

	for _, sc := range rs.special {
		ch := sc.ch
		ch.lock()
		if max := e.cfg.AnnounceMax; max >= 0 && ch.size() > max {
			ch.deltas = new(events.Deltas)
			if sc.deltas != nil {
				ch.deltas.Restore(*sc.deltas)
			}
			e.ivMu.Lock()
			e.ivChans[ch] = struct{}{}
			e.ivMu.Unlock()
		} else if sc.deltas != nil && sc.deltas.Adds > 0 {
			// In interval mode when saved, in announce mode here (a higher
			// AnnounceMax): what was pending goes out now, as it would have
			// on the way back to announce mode.
			ch.deltas = new(events.Deltas)
			ch.deltas.Restore(*sc.deltas)
			var t counts
			e.emitInterval(&t, ch)
			e.count.add(nil, &t)
			ch.deltas = nil
		}
		ch.mu.Unlock()
	}

	for _, ks := range rs.keyspaces {
		ks.channels.Range(func(ch *channel) bool {
			// Under the channel's lock: overdue members time out as soon as
			// they are in the wheel, which changes the channel's list.
			ch.mu.RLock()
			ch.eachMember(func(m *member) {
				e.wheel.Schedule(m, m.deadline.Load())
			})
			ch.mu.RUnlock()
			return true
		})
	}
}

// satAdd returns a+b, saturated at the bounds of int64.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// satSub returns a-b, saturated at the bounds of int64.
func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAdd(a, -b)
}
