package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
)

// HeartbeatRequest is one heartbeat: uuid UUID is alive on Channels and on
// every channel of Groups (as the groups are at the time of the call).
type HeartbeatRequest struct {
	SubKey   string
	UUID     string
	Channels []string
	Groups   []string
	// Timeout is the presence timeout: the member times out if no heartbeat
	// comes within it. Zero means Config.DefaultTimeout; other values are
	// clamped to [Config.MinTimeout, Config.MaxTimeout]; negative is an error.
	Timeout time.Duration
	// State, optional, is keyed by channel or group name (a group's entry
	// applies to each of its channels); each value is a JSON object, stored as
	// the member's state on that channel. A channel's own entry wins over its
	// group's.
	State map[string]json.RawMessage
	// Expanded, if not nil, is Channels and Groups as the caller resolved
	// them with Expand: the call acts on exactly those channels instead of
	// reading the groups again. Its names are checked like the call's.
	Expanded *Expansion
}

// HeartbeatResult tells what a heartbeat did.
type HeartbeatResult struct {
	// Joined lists the channels on which the uuid was not present and joined
	// with this heartbeat, in the order of the call; nil when it only
	// refreshed. The names are the engine's copies, and a list of one channel
	// is shared by every result that names that channel alone, so that a join
	// does not allocate for it: treat Joined as read-only.
	Joined []string
	// Timeout is the presence timeout in force after clamping.
	Timeout time.Duration
}

// Heartbeat records that r.UUID is alive on r's channels. On a channel where
// the uuid is absent it joins: a join event, then a state-change event if
// state came with it. Where it is present, its deadline moves to now plus the
// timeout and no event is sent, unless its state changed (state-change).
//
// The call is validated whole before anything is applied; an invalid field
// returns an error wrapping one of ErrInvalidSubKey, ErrInvalidUUID,
// ErrInvalidChannel, ErrInvalidGroup, ErrNoChannels, ErrTooManyChannels,
// ErrInvalidTimeout, ErrInvalidState or ErrStateTooLarge. If the joins would
// exceed Config.MaxMembers it returns ErrCapacity and changes nothing.
//
// A heartbeat of a present member without state takes no lock and does not
// allocate. ctx bounds only the wait for lagging Block subscribers.
func (e *Engine) Heartbeat(ctx context.Context, r HeartbeatRequest) (HeartbeatResult, error) {
	if e.closed.Load() {
		return HeartbeatResult{}, ErrClosed
	}
	var b beat
	uuid := index.NewKey(r.UUID) // hashed once for every lookup of the call
	if b.ks = e.keyspace(r.SubKey, false); b.ks != nil {
		b.c = b.ks.clients.GetKey(uuid)
	}
	// What the engine holds needs no second look (see validateCall): the
	// plain heartbeat of a present member, the common case, goes to the
	// refresh unchecked, which applies it only if the uuid is on every
	// channel, and so only if every name is valid. Any other call is
	// validated and prepared first.
	targets, prepared := r.Channels, false
	if b.c == nil || len(r.Groups) > 0 || r.Expanded != nil || len(r.State) > 0 || r.Timeout < 0 || len(r.Channels) > e.cfg.MaxChannelsPerCall {
		var err error
		if targets, err = e.prepare(&b, &r); err != nil {
			return HeartbeatResult{}, err
		}
		prepared = true
	}
	b.timeout = e.cfg.clampTimeout(r.Timeout)
	b.deadline = e.wheel.Now() + int64(b.timeout)
	if b.states == nil && e.refreshAll(b.c, targets, b.deadline) {
		e.count.inc(cHeartbeats)
		return HeartbeatResult{Timeout: b.timeout}, nil
	}
	if !prepared {
		var err error
		if targets, err = e.prepare(&b, &r); err != nil {
			return HeartbeatResult{}, err
		}
	}
	if err := e.apply(ctx, &b, r.SubKey, uuid, targets); err != nil {
		return HeartbeatResult{Joined: b.joined}, err // the joins applied before it, if any
	}
	return HeartbeatResult{Joined: b.joined, Timeout: b.timeout}, nil
}

// beat is what one heartbeat call has found and decided on its way through
// the engine, passed down by pointer from Heartbeat to the work under each
// channel's lock. It lives on Heartbeat's stack.
//
// It holds only what the engine owns. The caller's names (the uuid, the
// channels) go down beside it, as parameters: escape analysis does not tell
// one field of a struct from another, and beat's pointers into the engine
// do escape (the pin's token goes back to a pool), so a caller's slice kept
// in beat would be moved to the heap, and the refresh would allocate.
type beat struct {
	ks  *keyspace // the sub key's keyspace; nil while it has none
	c   *client   // the uuid's record when the call began; nil if none
	ch0 *channel  // ks's channel of the call's first channel name, if prepare found one

	// Set by prepare.
	states map[string]json.RawMessage // compacted, by channel or group; nil without state
	via    map[string]string          // channel -> the group it came from, for state

	timeout  time.Duration // in force, after clamping
	deadline int64         // wheel time
	slot     uint32        // low bits of the wheel slot of deadline, for a join

	// The locked path.
	tok    *stripeToken // the pin of ks, on whose stripe the call counts
	budget int          // joins reserved against MaxMembers and not used yet
	spare  *client      // a record for the uuid, made before any lock, if it had none
	joined []string     // the channels joined, for the result
	t      counts
}

// prepare validates r and then compacts its state into b and expands its
// groups: it returns r's channels followed by those of its groups. It
// applies nothing.
func (e *Engine) prepare(b *beat, r *HeartbeatRequest) ([]string, error) {
	if b.c == nil && b.ks != nil && len(r.Channels) > 0 {
		// A new uuid's first channel, if the keyspace has it, vouches for
		// its name, and beatChannel takes it from b instead of looking it
		// up again.
		b.ch0 = b.ks.channels.Get(r.Channels[0])
	}
	if err := e.validateCall(held{b.ks, b.c, b.ch0}, r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded); err != nil {
		return nil, err
	}
	if r.Timeout < 0 {
		return nil, fmt.Errorf("%w: %v is negative", ErrInvalidTimeout, r.Timeout)
	}
	if len(r.State) > 0 {
		var err error
		if b.states, err = e.compactStates(r); err != nil {
			return nil, err
		}
	}
	targets := r.Channels
	if r.Expanded != nil || len(r.Groups) > 0 && b.ks != nil {
		// With the caller's expansion, targets reads no group: a sub key
		// without a keyspace (b.ks nil) is fine.
		targets, b.via = b.ks.targets(r.Channels, r.Groups, r.Expanded, b.states != nil)
	}
	return targets, nil
}

// state returns the state b sets on channel name, if it sets one: the
// channel's own entry, or else that of the group it came from.
func (b *beat) state(name string) (json.RawMessage, bool) {
	st, ok := b.states[name]
	if !ok && b.via != nil {
		st, ok = b.states[b.via[name]]
	}
	return st, ok
}

// apply is Heartbeat's locked path, for a prepared call that the refresh
// could not apply: it pins the keyspace for the whole call, the wait
// included, reserves room for the joins against MaxMembers, waits for
// lagging subscribers, then applies the heartbeat to each target under the
// target's lock. If the reservation or the wait fails, nothing is applied.
//
// It is a function of its own, with few returns, so that its defers are
// open-coded: in Heartbeat they would cost a deferred call record on every
// join.
func (e *Engine) apply(ctx context.Context, b *beat, subKey string, uuid index.Key, targets []string) error {
	ks := b.ks
	if b.ks, b.tok = e.liveKeyspace(subKey, b.ks); b.ks != ks {
		b.ch0 = nil // a channel of a keyspace the sweep dropped
	}
	// The heartbeat counts as soon as it is in, the wait for subscribers
	// included; what it does counts once it is done, on the pin's token,
	// before the unpin gives the token back.
	e.count.incOn(b.tok, cHeartbeats)
	defer b.ks.pins.unpin(e.count, b.tok, &b.t)
	absent := 0
	for _, name := range targets {
		if b.c == nil || b.c.find(name) == nil {
			absent++
		}
	}
	if err := e.reserve(absent); err != nil {
		return err
	}
	b.budget = absent
	defer func() { e.unreserve(b.budget) }()
	b.slot = uint32(e.wheel.SlotFor(b.deadline))
	if err := e.backpressure(ctx); err != nil {
		return err
	}
	if b.c == nil {
		// Made before any lock, and dropped if another heartbeat makes the
		// uuid's record meanwhile.
		b.spare = newClient(uuid.String())
	}
	for _, name := range targets {
		if err := e.beatChannel(b, uuid, name); err != nil {
			return err
		}
	}
	return nil
}

// held is what the engine holds of a call's names, found by the caller
// before validation: a name the engine holds was validated when it came in,
// and needs no second look.
type held struct {
	ks *keyspace // the keyspace of the call's sub key, or nil
	c  *client   // the keyspace's record of the call's uuid, or nil
	ch *channel  // the keyspace's channel named by the call's first channel, or nil
}

// vouches reports whether name is a valid channel name because the engine
// holds a channel of that name: channels are made only from valid names.
func (h held) vouches(name string) bool {
	return h.ch != nil && h.ch.name == name || h.c.vouches(name)
}

// validateCall checks the fields common to heartbeat, leave and state calls.
//
// h is what the engine holds of them: nil fields where it holds nothing or
// the caller did not look. A sub key with a keyspace, a uuid with a record
// and a channel that record is on or that h.ch is, are not checked again.
// The result is that of checking everything, in the same order.
//
// x, if not nil, is the caller's expansion of channels and groups.
func (e *Engine) validateCall(h held, subKey, uuid string, channels, groups []string, x *Expansion) error {
	if h.ks == nil {
		if err := ValidateSubKey(subKey); err != nil {
			return err
		}
	}
	if h.c == nil {
		if err := ValidateUUID(uuid); err != nil {
			return err
		}
	}
	if len(channels) == 0 && len(groups) == 0 {
		return ErrNoChannels
	}
	if err := validateNames(h, channels, groups, e.cfg.MaxChannelsPerCall); err != nil {
		return err
	}
	if x != nil {
		return checkExpansion(x, channels, groups)
	}
	return nil
}

// compactStates validates r.State: every key names a channel or group of the
// call and every value is a JSON object within MaxStateBytes.
func (e *Engine) compactStates(r *HeartbeatRequest) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(r.State))
	for name, raw := range r.State {
		if !contains(r.Channels, name) && !contains(r.Groups, name) {
			return nil, fmt.Errorf("%w: state for %q, which the heartbeat does not name", ErrInvalidState, name)
		}
		st, err := CompactState(raw, e.cfg.MaxStateBytes)
		if err != nil {
			return nil, fmt.Errorf("state for %q: %w", name, err)
		}
		out[name] = st
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// refreshAll moves the deadline of client c (nil if none) on every target
// channel, without a lock, if c is present on all of them and none needs the
// slow path. It applies nothing unless it applies everything (up to races with
// expiry, in which case the slow path redoes the work under locks).
func (e *Engine) refreshAll(c *client, targets []string, deadline int64) bool {
	if c == nil || len(targets) == 0 {
		return false
	}
	slack := int64(e.cfg.Tick)
	if len(targets) == 1 {
		return refresh(c.find(targets[0]), deadline, slack)
	}
	// The members found by the check are kept for the refresh, up to a
	// few; past those, the refresh finds them again.
	var found [8]*member
	for i, name := range targets {
		m := c.find(name)
		if m == nil {
			return false
		}
		if d := m.deadline.Load(); d == removed || deadline < d-slack {
			return false
		}
		if i < len(found) {
			found[i] = m
		}
	}
	for i, name := range targets {
		var m *member
		if i < len(found) {
			m = found[i]
		} else {
			m = c.find(name)
		}
		if !refresh(m, deadline, slack) {
			return false
		}
	}
	return true
}

// refresh moves m's deadline forward to deadline with a compare-and-swap. It
// fails when m was removed meanwhile, or when deadline is more than slack
// before the current one (a shorter timeout: the wheel must file the member
// earlier, which needs the channel lock). A deadline within slack before the
// current one changes nothing: the member is as fresh as it needs to be.
func refresh(m *member, deadline, slack int64) bool {
	if m == nil {
		return false
	}
	for {
		d := m.deadline.Load()
		switch {
		case d == removed || deadline < d-slack:
			return false
		case deadline <= d:
			return true
		case m.deadline.CompareAndSwap(d, deadline):
			return true
		}
	}
}

// beatChannel applies b to channel name under the channel's lock. A joined
// member is filed in the wheel after the lock, and its channel appended to
// b.joined.
func (e *Engine) beatChannel(b *beat, uuid index.Key, name string) error {
	for {
		ch, created := b.ch0, false
		if ch != nil && ch.name == name {
			b.ch0 = nil // found by prepare; looked up again if it died since
		} else if ch, created = b.ks.channelFor(name); created {
			b.t[cChannels]++
		}
		ch.lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		m, err := e.beatLocked(b, uuid, ch)
		if err != nil {
			e.dropIfEmptyLocked(&b.t, ch) // created for a join that failed
		}
		ch.mu.Unlock()
		if m == nil {
			return err
		}
		// m.slot was set under the lock to the slot this files m in, so that
		// the expirer, which compares the two, never takes the entry for a
		// stale one; if m moved or left meanwhile, the entry is stale indeed.
		e.wheel.Schedule(m, b.deadline)
		b.joined = ch.appendName(b.joined)
		return nil
	}
}

// beatLocked applies b to ch, locked, and returns the member if the uuid
// joined.
func (e *Engine) beatLocked(b *beat, uuid index.Key, ch *channel) (*member, error) {
	st, hasState := b.state(ch.name)
	// One probe of the uuid's index shard, under its lock, tells whether the
	// uuid is on ch, which is exact under ch's lock (see client.find), and if
	// it is not, adds the membership.
	var (
		m       *member
		present bool
		err     error
	)
	b.ks.clients.UpdateKey(uuid, func(c *client) *client {
		if c != nil {
			if m = c.find(ch.name); m != nil {
				present = true
				return c
			}
		}
		if b.budget > 0 {
			b.budget--
		} else if err = e.reserve(1); err != nil {
			return c
		}
		switch {
		case c != nil:
			m = new(member)
		case b.spare != nil:
			c, m = b.spare, &b.spare.first
			b.spare = nil
		default:
			c = newClient(uuid.String())
			m = &c.first
		}
		m.c, m.ch = c, ch
		m.deadline.Store(b.deadline)
		if m != &c.first {
			c.add(m)
		}
		return c
	})
	switch {
	case present:
		e.refreshLocked(m, b.deadline)
		if hasState {
			e.setStateLocked(&b.t, ch, m, st)
		}
		return nil, nil
	case err != nil:
		return nil, err
	}
	ch.place(m)
	m.slot = b.slot
	if !hasState || st == nil {
		st = nil
	} else {
		if ch.state == nil {
			ch.state = make(map[*member]json.RawMessage)
		}
		ch.state[m] = st
	}
	b.t[cJoins]++
	e.announce(&b.t, ch, events.Join, m.c.id(), st)
	if st != nil {
		e.emit(&b.t, ch, &events.Event{Action: events.StateChange, UUID: m.c.id(), State: st})
	}
	return m, nil
}

// refreshLocked sets the deadline of a present member under its channel's
// lock. A deadline earlier than the slot the member is filed in (a shorter
// timeout) files it again.
func (e *Engine) refreshLocked(m *member, deadline int64) {
	slack := int64(e.cfg.Tick)
	if refresh(m, deadline, slack) {
		return
	}
	// A shorter timeout; lock-free refreshes may race it forward, and the
	// last writer wins, as it would in any order of arrival.
	m.deadline.Store(deadline)
	if s := uint32(e.wheel.SlotFor(deadline)); int32(s-m.slot) < 0 { // earlier, modulo 2^32
		m.slot = uint32(e.wheel.Schedule(m, deadline))
	}
}

// setStateLocked stores st as m's state on ch and emits state-change, counted
// into t, if it differs from the state m had. Under ch.mu.
func (e *Engine) setStateLocked(t *counts, ch *channel, m *member, st json.RawMessage) {
	old := ch.state[m]
	if bytes.Equal(old, st) {
		return
	}
	if st == nil {
		delete(ch.state, m)
	} else {
		if ch.state == nil {
			ch.state = make(map[*member]json.RawMessage)
		}
		ch.state[m] = st
	}
	e.emit(t, ch, &events.Event{Action: events.StateChange, UUID: m.c.id(), State: st})
}

// reserve claims room for n joins against MaxMembers.
func (e *Engine) reserve(n int) error {
	if e.cfg.MaxMembers == 0 || n == 0 {
		return nil
	}
	for {
		cur := e.reserved.Load()
		if cur+int64(n) > int64(e.cfg.MaxMembers) {
			return fmt.Errorf("%w: %d members, at most %d", ErrCapacity, cur, e.cfg.MaxMembers)
		}
		if e.reserved.CompareAndSwap(cur, cur+int64(n)) {
			return nil
		}
	}
}

// unreserve gives back room claimed by reserve and not used by a join, or
// freed by a removal.
func (e *Engine) unreserve(n int) {
	if e.cfg.MaxMembers != 0 && n != 0 {
		e.reserved.Add(-int64(n))
	}
}
