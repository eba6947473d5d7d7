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
	// The uuid's record is looked up before the call is validated, because
	// what the engine holds needs no second look (see validateCall): the
	// heartbeat of a present member, the common case, checks no name.
	key := index.NewKey(r.UUID) // hashed once for every lookup of the call
	ks := e.keyspace(r.SubKey, false)
	var c *client
	if ks != nil {
		c = ks.clients.GetKey(key)
	}
	if c != nil && len(r.Groups) == 0 && len(r.State) == 0 && r.Timeout >= 0 && len(r.Channels) <= e.cfg.MaxChannelsPerCall {
		// refreshAll applies the call only if c is on every channel, and so
		// only if every name is valid.
		timeout := e.cfg.clampTimeout(r.Timeout)
		if e.refreshAll(c, r.Channels, e.wheel.Now()+int64(timeout)) {
			e.count.add(cHeartbeats, 1)
			return HeartbeatResult{Timeout: timeout}, nil
		}
	}
	if err := e.validateCall(ks, c, r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded); err != nil {
		return HeartbeatResult{}, err
	}
	if r.Timeout < 0 {
		return HeartbeatResult{}, fmt.Errorf("%w: %v is negative", ErrInvalidTimeout, r.Timeout)
	}
	var states map[string]json.RawMessage
	if len(r.State) > 0 {
		var err error
		if states, err = e.compactStates(r); err != nil {
			return HeartbeatResult{}, err
		}
	}
	timeout := e.cfg.clampTimeout(r.Timeout)
	res := HeartbeatResult{Timeout: timeout}

	if ks == nil {
		ks = e.keyspace(r.SubKey, true)
	}
	targets := r.Channels
	var via map[string]string // channel -> the group it came from, for state
	if len(r.Groups) > 0 || r.Expanded != nil {
		targets, via = ks.targets(r.Channels, r.Groups, r.Expanded, states != nil)
	}
	deadline := e.wheel.Now() + int64(timeout)
	// Without groups, the refresh was tried above.
	if states == nil && len(r.Groups) > 0 && e.refreshAll(c, targets, deadline) {
		e.count.add(cHeartbeats, 1)
		return res, nil
	}

	// Some channel needs a lock: a join, new state or a shorter timeout.
	absent := 0
	for _, name := range targets {
		if c == nil || c.find(name) == nil {
			absent++
		}
	}
	if err := e.beatAll(ctx, ks, r.SubKey, key, targets, via, states, deadline, absent, &res); err != nil {
		return res, err
	}
	return res, nil
}

// beatAll is Heartbeat's locked path: it counts the heartbeat, reserves room
// for absent joins against MaxMembers, waits for lagging subscribers, then
// applies the heartbeat to each target under the target's lock and appends
// the channels joined to res.Joined. ks is the keyspace the caller looked up.
// It pins the keyspace for the whole call, the wait included, and counts on
// the pin's stripe. If the reservation or the wait fails, nothing is applied
// and *res is zeroed.
//
// It is a function of its own, with few returns, so that its defers are
// open-coded: in Heartbeat they cost a deferred call record on every join.
func (e *Engine) beatAll(ctx context.Context, ks *keyspace, subKey string, key index.Key, targets []string, via map[string]string, states map[string]json.RawMessage, deadline int64, absent int, res *HeartbeatResult) error {
	ks, tok := e.liveKeyspace(subKey, ks)
	defer ks.pins.unpin(tok)
	e.count.addWith(tok, cHeartbeats, 1, cJoins, 0)
	if err := e.reserve(absent); err != nil {
		*res = HeartbeatResult{}
		return err
	}
	budget := absent
	defer func() { e.unreserve(budget) }()
	if err := e.backpressure(ctx); err != nil {
		*res = HeartbeatResult{}
		return err
	}
	for _, name := range targets {
		st, hasState := states[name]
		if !hasState && via != nil {
			st, hasState = states[via[name]]
		}
		ch, err := e.beat(ks, tok, key, name, deadline, st, hasState, &budget)
		if err != nil {
			return err
		}
		if ch != nil {
			res.Joined = ch.appendName(res.Joined)
		}
	}
	return nil
}

// validateCall checks the fields common to heartbeat, leave and state calls.
//
// ks and c are the keyspace of subKey and its record of uuid, nil where the
// engine holds none or the caller did not look. A name the engine holds was
// validated when it came in, so a sub key with a keyspace, a uuid with a
// record and a channel that record is on are not checked again. The result is
// that of checking everything, in the same order.
//
// x, if not nil, is the caller's expansion of channels and groups.
func (e *Engine) validateCall(ks *keyspace, c *client, subKey, uuid string, channels, groups []string, x *Expansion) error {
	if ks == nil {
		if err := ValidateSubKey(subKey); err != nil {
			return err
		}
	}
	if c == nil {
		if err := ValidateUUID(uuid); err != nil {
			return err
		}
	}
	if len(channels) == 0 && len(groups) == 0 {
		return ErrNoChannels
	}
	if err := validateNames(c, channels, groups, e.cfg.MaxChannelsPerCall); err != nil {
		return err
	}
	if x != nil {
		return checkExpansion(x, channels, groups)
	}
	return nil
}

// compactStates validates r.State: every key names a channel or group of the
// call and every value is a JSON object within MaxStateBytes.
func (e *Engine) compactStates(r HeartbeatRequest) (map[string]json.RawMessage, error) {
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
	for _, name := range targets {
		m := c.find(name)
		if m == nil {
			return false
		}
		if d := m.deadline.Load(); d == removed || deadline < d-slack {
			return false
		}
	}
	for _, name := range targets {
		if !refresh(c.find(name), deadline, slack) {
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

// beat applies a heartbeat to one channel under the channel's lock and returns
// the channel if the uuid joined, nil if it was present. tok is the caller's
// pin of ks, on whose stripe the join is counted. budget is the number of
// joins reserved against MaxMembers that the call has not used yet.
func (e *Engine) beat(ks *keyspace, tok *stripeToken, uuid index.Key, name string, deadline int64, st json.RawMessage, hasState bool, budget *int) (*channel, error) {
	// Work that needs no lock is done before taking the channel's: a new
	// uuid's record is allocated ahead (and dropped if another heartbeat
	// created it meanwhile), and a joined member is filed in the wheel after.
	var spare *client
	if ks.clients.GetKey(uuid) == nil {
		spare = newClient(uuid.String())
	}
	for {
		ch := ks.channelFor(e, name)
		ch.lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		m, sent, err := e.beatLocked(ks, ch, uuid, deadline, st, hasState, budget, spare)
		if err != nil {
			e.dropIfEmptyLocked(ch) // created for a join that failed
		}
		ch.mu.Unlock()
		if m == nil {
			return nil, err
		}
		// m.slot was set under the lock to the slot this files m in, so that
		// the expirer, which compares the two, never takes the entry for a
		// stale one; if m moved or left meanwhile, the entry is stale indeed.
		e.wheel.Schedule(m, deadline)
		e.count.addWith(tok, cJoins, 1, cEvents, b2i(sent))
		return ch, nil
	}
}

// beatLocked applies a heartbeat to ch, locked, and returns the member if the
// uuid joined; the caller then files it in the wheel and counts the join, and
// its event if sent. spare, if not nil, is a record for the uuid to use if it
// has none.
func (e *Engine) beatLocked(ks *keyspace, ch *channel, uuid index.Key, deadline int64, st json.RawMessage, hasState bool, budget *int, spare *client) (m *member, sent bool, err error) {
	if m := findLocked(ks, uuid, ch); m != nil {
		e.refreshLocked(m, deadline)
		if hasState {
			e.setStateLocked(ch, m, st)
		}
		return nil, false, nil
	}
	if *budget > 0 {
		*budget--
	} else if err := e.reserve(1); err != nil {
		return nil, false, err
	}

	ks.clients.UpdateKey(uuid, func(c *client) *client {
		switch {
		case c != nil:
			m = new(member)
		case spare != nil:
			c, m = spare, &spare.first
		default:
			c = newClient(uuid.String())
			m = &c.first
		}
		m.c, m.ch = c, ch
		m.deadline.Store(deadline)
		c.add(m)
		return c
	})
	m.idx = int32(len(ch.members))
	ch.members = append(ch.members, m)
	ch.occupancy.Store(int64(len(ch.members)))
	m.slot = uint32(e.wheel.SlotFor(deadline))
	if hasState && st != nil {
		if ch.state == nil {
			ch.state = make(map[*member]json.RawMessage)
		}
		ch.state[m] = st
	}
	sent = e.announce(ch, events.Join, m.c.id, ch.state[m])
	if hasState && st != nil {
		e.publish(ch, events.StateChange, m.c.id, st)
	}
	return m, sent, nil
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

// setStateLocked stores st as m's state on ch and publishes state-change if
// it differs from the state m had. Under ch.mu.
func (e *Engine) setStateLocked(ch *channel, m *member, st json.RawMessage) {
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
	e.publish(ch, events.StateChange, m.c.id, st)
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
