package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/events"
)

// shard is one member bucket: its stream, the node's view of the members
// kept in it, and the applier that keeps the view by reading the stream.
//
// The view changes only on the applier's goroutine (the bucket's consumer
// callback), under mu; queries read it under mu's read lock. Writers never
// change membership in the view: they wait until the applier has read their
// write (see waitApplied), so every node derives the same events from the
// same stream.
type shard struct {
	follower
	n   *Node
	idx int

	mu     sync.RWMutex
	spaces map[string]*space // by sub key
	// members, channels and uuids count the view; under mu.
	members, channels, uuids int64
	// ivChans are the channels in interval mode, with their sub keys;
	// under mu.
	ivChans map[*vchannel]string

	// Applier state, touched only by the applier.
	lastTT   int64 // timetoken of the last event or message stamped
	boundary int64 // the next interval boundary, in timetokens; 0 before the first message
	evs      []events.Event

	// repairs are corrections of the view found by the sweep, for the
	// applier to make; under repairMu.
	repairMu sync.Mutex
	repairs  []repair
}

// repair corrects a member the view holds, found to have changed in the
// bucket through messages the applier never read: the key as the bucket has
// it now, to apply if the view still holds the member at rev.
type repair struct {
	sk, ch, uuid string
	rev          uint64
	now          last
}

// space is the view of one sub key in one bucket.
type space struct {
	channels map[string]*vchannel
	clients  map[string]*vclient
}

// vchannel is the view of one channel.
type vchannel struct {
	name    string
	members []*vmember // dense; vmember.idx is the position
	byUUID  map[string]*vmember
	deltas  *events.Deltas // non-nil in interval mode
}

// vclient is one uuid's memberships in one bucket, for Where Now.
type vclient struct {
	uuid string
	ms   []*vmember
}

// vmember is one membership as the bucket last said it.
type vmember struct {
	c     *vclient
	ch    *vchannel
	idx   int
	state json.RawMessage // its value: the state, nil for none; under mu
	seen  uint64          // stream sequence of the last message the applier read of it; under mu
	// rev is the stream sequence of the member's last message, as far as the
	// node knows, and expires when its key expires, in Unix nanoseconds. The
	// applier sets them under mu; a refresh this node wrote moves them under
	// mu's read lock (see refreshed), with a compare-and-swap of rev.
	rev     atomic.Uint64
	expires atomic.Int64
}

func newShard(ctx context.Context, n *Node, idx int) (*shard, error) {
	s := &shard{
		n:       n,
		idx:     idx,
		spaces:  make(map[string]*space),
		ivChans: make(map[*vchannel]string),
	}
	if err := s.init(ctx, n, memberBucket(n.cfg.Bucket, idx), history); err != nil {
		return nil, err
	}
	return s, nil
}

// op is what a message does to its key.
type op uint8

const (
	opPut     op = iota
	opLeave      // a purge or delete we wrote
	opTimeout    // the key's TTL ran out: JetStream's marker
)

// opOf reads a message's headers.
func opOf(h nats.Header) op {
	if len(h) == 0 {
		return opPut
	}
	if r := h.Get(jetstream.MarkerReasonHeader); r != "" {
		if r == "MaxAge" {
			return opTimeout
		}
		return opLeave
	}
	switch h.Get(kvOperation) {
	case kvPurge, kvDelete:
		return opLeave
	}
	return opPut
}

// Headers of the key-value conventions.
const (
	kvOperation = "KV-Operation"
	kvPurge     = "PURGE"
	kvDelete    = "DEL"
)

// ttlOfHeader reads a message's TTL header; 0 when it has none.
func ttlOfHeader(h nats.Header) time.Duration {
	v := h.Get(jetstream.MsgTTLHeader)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(sec) * time.Second
	}
	return 0
}

// apply reads one message of the bucket into the view and derives its
// events. It runs on the consumer's goroutine, one message at a time, in
// stream order.
func (s *shard) apply(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		s.n.log("cluster: message without metadata in bucket "+s.bucket, "err", err)
		return
	}
	seq := md.Sequence.Stream
	at := md.Timestamp.UnixNano()
	live := seq > s.startSeq
	s.evs = s.evs[:0]
	base := stamp(at/100, s.lastTT, s.idx, len(s.n.shards))
	s.crossBoundaries(base, live)
	if live {
		s.applyRepairs(at)
	}

	key := strings.TrimPrefix(m.Subject(), s.prefix)
	if key != tickKey {
		if names, ok := splitKey(key, 3); ok {
			h := m.Headers()
			o := opOf(h)
			// A roll-up drops the key's older messages by design (see
			// write.go): one this node had not read yet is no sign of its
			// falling behind.
			if exp := h.Get(jetstream.ExpectedLastSubjSeqHeader); exp != "" && h.Get(jetstream.MsgRollup) == "" {
				s.checkSkip(names[0], names[1], names[2], exp)
			}
			s.applyMember(names[0], names[1], names[2], o, seq, at, ttlOfHeader(h), m.Data(), live)
		} else {
			s.n.log("cluster: unknown key in bucket "+s.bucket, "key", key)
		}
	}
	s.lastTT = max(s.lastTT, base)

	if live {
		s.n.deliver(s.idx, s.evs, s.lastTT)
	}
	s.done(seq)
}

// next stamps the next event of the message being applied.
func (s *shard) next(base int64) int64 {
	s.lastTT = stamp(base, s.lastTT, s.idx, len(s.n.shards))
	return s.lastTT
}

// add appends an event of ch, stamped.
func (s *shard) add(sk string, ch *vchannel, a events.Action, uuid string, state json.RawMessage, base int64) {
	tt := s.next(base)
	s.evs = append(s.evs, events.Event{
		Action:    a,
		SubKey:    sk,
		Channel:   ch.name,
		UUID:      uuid,
		Occupancy: len(ch.members),
		State:     state,
		Time:      time.Unix(0, tt*100),
		Timetoken: tt,
	})
}

// applyMember applies one message of key (sk, chName, uuid).
func (s *shard) applyMember(sk, chName, uuid string, o op, seq uint64, at int64, ttl time.Duration, data []byte, live bool) {
	base := stamp(at/100, s.lastTT, s.idx, len(s.n.shards))
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.spaces[sk]
	var ch *vchannel
	var m *vmember
	if sp != nil {
		if ch = sp.channels[chName]; ch != nil {
			m = ch.byUUID[uuid]
		}
	}
	switch o {
	case opPut:
		var state json.RawMessage
		if len(data) > 0 {
			state = json.RawMessage(slices.Clone(data))
		}
		expires := at + int64(ttl)
		if m != nil {
			m.rev.Store(max(m.rev.Load(), seq))
			m.seen = seq
			m.expires.Store(expires)
			if !bytesEqual(m.state, state) {
				m.state = state
				if live {
					s.add(sk, ch, events.StateChange, uuid, state, base)
				}
			}
			return
		}
		sp, ch = s.join(sp, ch, sk, chName)
		m = s.link(sp, ch, uuid)
		m.rev.Store(seq)
		m.seen, m.state = seq, state
		m.expires.Store(expires)
		s.announce(sk, ch, events.Join, uuid, state, base, live)
		if state != nil && live {
			s.add(sk, ch, events.StateChange, uuid, state, base)
		}
	case opLeave, opTimeout:
		if m == nil {
			return
		}
		a := events.Leave
		if o == opTimeout {
			a = events.Timeout
		}
		s.unlink(sp, ch, m)
		s.announce(sk, ch, a, uuid, m.state, base, live)
		if len(ch.members) == 0 {
			delete(sp.channels, chName)
			s.channels--
			if len(sp.channels) == 0 && len(sp.clients) == 0 {
				delete(s.spaces, sk)
			}
		}
	}
}

// checkSkip notes when a message was written after one the applier never
// read: its compare-and-swap names a previous message of the key other than
// the last one the applier read. The bucket dropped that message before this
// node read it (the node fell further behind than the bucket keeps), so the
// events this node derives for the key may differ from other nodes'.
func (s *shard) checkSkip(sk, ch, uuid, expect string) {
	s.mu.RLock()
	var seen uint64
	if sp := s.spaces[sk]; sp != nil {
		if c := sp.channels[ch]; c != nil {
			if m := c.byUUID[uuid]; m != nil {
				seen = m.seen
			}
		}
	}
	s.mu.RUnlock()
	if seen == 0 {
		return // what the view last knew of an absent key is not kept
	}
	if e, err := strconv.ParseUint(expect, 10, 64); err == nil && e != seen {
		s.n.count.repairs.Add(1)
		s.n.log("cluster: messages of a key were gone before this node read them; its events for it may differ from other nodes'",
			"bucket", s.bucket, "sub_key", sk, "channel", ch, "uuid", uuid, "seen_rev", seen, "expected_rev", e)
	}
}

// sweep looks for members the view holds long after their key's TTL ran out
// (its marker was gone before this node read it) and has the applier
// correct them from the bucket. It runs on the node's sweep goroutine.
func (s *shard) sweep(ctx context.Context) {
	cut := time.Now().Add(-s.n.cfg.MarkerTTL - sweepGrace).UnixNano()
	type cand struct {
		sk, ch, uuid string
		rev          uint64
	}
	var cands []cand
	s.mu.RLock()
	for sk, sp := range s.spaces {
		for _, ch := range sp.channels {
			for _, m := range ch.members {
				if m.expires.Load() < cut {
					cands = append(cands, cand{sk, ch.name, m.c.uuid, m.rev.Load()})
				}
			}
		}
	}
	s.mu.RUnlock()
	for _, c := range cands {
		l, err := s.fetch(ctx, s.prefix+memberKey(c.sk, c.ch, c.uuid))
		if err != nil {
			return // JetStream is out of reach: next time
		}
		if l.present && l.rev == c.rev {
			continue
		}
		s.repairMu.Lock()
		s.repairs = append(s.repairs, repair{c.sk, c.ch, c.uuid, c.rev, l})
		s.repairMu.Unlock()
	}
}

// sweepGrace is how long past a member's TTL and the markers' lifetime the
// sweep waits before it asks the bucket.
const sweepGrace = 5 * time.Second

// applyRepairs makes the corrections the sweep found, as events of the
// message being applied (its time at). Applier only.
func (s *shard) applyRepairs(at int64) {
	s.repairMu.Lock()
	rs := s.repairs
	s.repairs = nil
	s.repairMu.Unlock()
	for _, r := range rs {
		rev, _, _, present := s.lookup(r.sk, r.ch, r.uuid)
		if !present || rev != r.rev {
			continue // the applier has read something of it since
		}
		s.n.count.repairs.Add(1)
		s.n.log("cluster: a member's removal was gone before this node read it; repaired from the bucket",
			"bucket", s.bucket, "sub_key", r.sk, "channel", r.ch, "uuid", r.uuid)
		if r.now.present {
			s.applyMember(r.sk, r.ch, r.uuid, opPut, r.now.rev, at, time.Duration(r.now.expires-at), r.now.state, true)
		} else {
			s.applyMember(r.sk, r.ch, r.uuid, opTimeout, r.rev, at, 0, nil, true)
		}
	}
}

// join returns the space of sk and channel chName, creating them. Under mu.
func (s *shard) join(sp *space, ch *vchannel, sk, chName string) (*space, *vchannel) {
	if sp == nil {
		sp = &space{channels: make(map[string]*vchannel), clients: make(map[string]*vclient)}
		s.spaces[sk] = sp
	}
	if ch == nil {
		ch = &vchannel{name: chName, byUUID: make(map[string]*vmember)}
		sp.channels[chName] = ch
		s.channels++
	}
	return sp, ch
}

// link adds uuid to ch. Under mu.
func (s *shard) link(sp *space, ch *vchannel, uuid string) *vmember {
	c := sp.clients[uuid]
	if c == nil {
		c = &vclient{uuid: uuid}
		sp.clients[uuid] = c
		s.uuids++
	}
	m := &vmember{c: c, ch: ch, idx: len(ch.members)}
	ch.members = append(ch.members, m)
	ch.byUUID[c.uuid] = m
	c.ms = append(c.ms, m)
	s.members++
	return m
}

// unlink removes m from ch. Under mu.
func (s *shard) unlink(sp *space, ch *vchannel, m *vmember) {
	last := len(ch.members) - 1
	moved := ch.members[last]
	ch.members[m.idx] = moved
	moved.idx = m.idx
	ch.members[last] = nil
	ch.members = ch.members[:last]
	delete(ch.byUUID, m.c.uuid)
	c := m.c
	c.ms = slices.DeleteFunc(c.ms, func(x *vmember) bool { return x == m })
	if len(c.ms) == 0 {
		delete(sp.clients, c.uuid)
		s.uuids--
	}
	s.members--
}

// announce reports a join, leave or timeout that has just changed ch: as its
// own event in announce mode, or into the channel's deltas in interval mode,
// as the engine does. Under mu.
func (s *shard) announce(sk string, ch *vchannel, a events.Action, uuid string, state json.RawMessage, base int64, live bool) {
	if live {
		switch a {
		case events.Join:
			s.n.count.joins.Add(1)
		case events.Leave:
			s.n.count.leaves.Add(1)
		case events.Timeout:
			s.n.count.timeouts.Add(1)
		}
	}
	occ := len(ch.members)
	maxOcc := s.n.cfg.AnnounceMax
	switch {
	case ch.deltas == nil && (maxOcc < 0 || occ <= maxOcc):
		if live {
			s.add(sk, ch, a, uuid, state, base)
		}
	case ch.deltas == nil: // occupancy just went above AnnounceMax
		ch.deltas = new(events.Deltas)
		s.ivChans[ch] = sk
		s.recordDelta(ch, a, uuid)
	default:
		s.recordDelta(ch, a, uuid)
		if occ <= maxOcc { // back to announce mode: flush what is pending now
			if live {
				s.addInterval(sk, ch, base)
			}
			ch.deltas = nil
			delete(s.ivChans, ch)
		}
	}
}

func (s *shard) recordDelta(ch *vchannel, a events.Action, uuid string) {
	if s.n.cfg.IntervalDeltas {
		ch.deltas.Add(a, uuid)
	}
}

// addInterval appends ch's interval event with its pending deltas. Under mu.
func (s *shard) addInterval(sk string, ch *vchannel, base int64) {
	tt := s.next(base)
	ev := events.Event{
		Action:    events.Interval,
		SubKey:    sk,
		Channel:   ch.name,
		Occupancy: len(ch.members),
		Time:      time.Unix(0, tt*100),
		Timetoken: tt,
	}
	ch.deltas.Take(&ev)
	s.evs = append(s.evs, ev)
}

// crossBoundaries sends, when the bucket's time (base, a timetoken) has
// passed the next multiple of Config.Interval, one interval event for every
// channel of the bucket in interval mode, in name order: what the engine's
// interval loop does, decided by the stream, so that every node sends the
// same. Several boundaries passed at once send one round.
func (s *shard) crossBoundaries(base int64, live bool) {
	iv := int64(s.n.cfg.Interval / 100)
	if s.boundary == 0 {
		s.boundary = base - base%iv + iv
		return
	}
	if base < s.boundary {
		return
	}
	at := base - base%iv // the boundary passed
	s.boundary = at + iv
	s.mu.Lock()
	defer s.mu.Unlock()
	type ivChan struct {
		sk string
		ch *vchannel
	}
	chans := make([]ivChan, 0, len(s.ivChans))
	for ch, sk := range s.ivChans {
		chans = append(chans, ivChan{sk, ch})
	}
	slices.SortFunc(chans, func(a, b ivChan) int {
		return cmp.Or(strings.Compare(a.sk, b.sk), strings.Compare(a.ch.name, b.ch.name))
	})
	for _, c := range chans {
		if live {
			s.addInterval(c.sk, c.ch, at)
		} else {
			c.ch.deltas.Take(new(events.Event))
		}
	}
}

// lookup returns what the view holds of (sk, ch, uuid).
func (s *shard) lookup(sk, ch, uuid string) (rev uint64, state json.RawMessage, expires int64, present bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sp := s.spaces[sk]; sp != nil {
		if c := sp.channels[ch]; c != nil {
			if m := c.byUUID[uuid]; m != nil {
				return m.rev.Load(), m.state, m.expires.Load(), true
			}
		}
	}
	return 0, nil, 0, false
}

// refreshed records a refresh the node wrote with a compare-and-swap on rev
// (so the key held the same member and state): the view moves to its
// sequence at once, unless the applier has been there already, so that the
// next refresh through this node compares with it.
func (s *shard) refreshed(sk, ch, uuid string, rev, seq uint64, expires int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sp := s.spaces[sk]; sp != nil {
		if c := sp.channels[ch]; c != nil {
			if m := c.byUUID[uuid]; m != nil && m.rev.CompareAndSwap(rev, seq) {
				m.expires.Store(expires)
			}
		}
	}
}

func (s *shard) sizes() (members, channels, uuids int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.members, s.channels, s.uuids
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
