package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presence/engine"
)

// target is one channel of a call, and what the node knows of the member's
// key there.
type target struct {
	channel string
	shard   *shard
	put     put
	known   last            // the key as the node last knew it
	fetched bool            // known was read from the bucket, not the view
	state   json.RawMessage // the state the call sets; nil with setState false
	setsSt  bool
}

// validateCall checks what heartbeat, leave and state calls share, as the
// engine does, and returns the channels the call acts on, each once, and for
// those reached through a group, the group.
func (n *Node) validateCall(subKey, uuid string, channels, groups []string, x *engine.Expansion) ([]string, map[string]string, error) {
	if err := engine.ValidateSubKey(subKey); err != nil {
		return nil, nil, err
	}
	if err := engine.ValidateUUID(uuid); err != nil {
		return nil, nil, err
	}
	if len(channels) == 0 && len(groups) == 0 {
		return nil, nil, engine.ErrNoChannels
	}
	return n.targets(subKey, channels, groups, x)
}

// targets checks a call's names and expands its groups (or takes the
// caller's expansion, checked).
func (n *Node) targets(subKey string, channels, groups []string, x *engine.Expansion) ([]string, map[string]string, error) {
	maxNames := n.cfg.MaxChannelsPerCall
	if len(channels) > maxNames {
		return nil, nil, fmt.Errorf("%w: %d channels, at most %d", engine.ErrTooManyChannels, len(channels), maxNames)
	}
	if len(groups) > maxNames {
		return nil, nil, fmt.Errorf("%w: %d channel groups, at most %d", engine.ErrTooManyChannels, len(groups), maxNames)
	}
	for _, ch := range channels {
		if err := engine.ValidateChannel(ch); err != nil {
			return nil, nil, err
		}
	}
	for _, g := range groups {
		if err := engine.ValidateGroup(g); err != nil {
			return nil, nil, err
		}
	}
	if x == nil && len(groups) == 0 {
		return dedup(channels), nil, nil
	}
	if x == nil {
		exp, _ := engine.Expand(channels, groups, func(g string) ([]string, error) {
			chs, _ := n.groups.lookup(subKey, g)
			return chs, nil
		})
		x = &exp
	} else if err := checkExpansion(x, channels, groups); err != nil {
		return nil, nil, err
	}
	var via map[string]string
	if len(x.Via) > 0 {
		via = make(map[string]string, len(x.Via))
		for i, ch := range x.FromGroups() {
			via[ch] = x.Via[i]
		}
	}
	return x.Channels, via, nil
}

// checkExpansion checks a caller's expansion, as the engine does.
func checkExpansion(x *engine.Expansion, channels, groups []string) error {
	if x.Named < 0 || x.Named > len(x.Channels) || len(x.Via) != len(x.Channels)-x.Named {
		return fmt.Errorf("%w: expansion of %d channels, %d named, %d reached through groups", engine.ErrInvalidGroup, len(x.Channels), x.Named, len(x.Via))
	}
	for _, ch := range x.Channels[:x.Named] {
		if !slices.Contains(channels, ch) {
			return fmt.Errorf("%w: expansion names %q, which the call does not name", engine.ErrInvalidChannel, ch)
		}
	}
	for i, ch := range x.FromGroups() {
		if err := engine.ValidateChannel(ch); err != nil {
			return err
		}
		if !slices.Contains(groups, x.Via[i]) {
			return fmt.Errorf("%w: expansion reaches %q through %q, which the call does not name", engine.ErrInvalidGroup, ch, x.Via[i])
		}
	}
	return nil
}

// plan looks up each channel's key in the view.
func (n *Node) plan(subKey, uuid string, channels []string) []*target {
	ts := make([]*target, len(channels))
	for i, ch := range channels {
		s := n.shards[bucketOf(subKey, ch, len(n.shards))]
		t := &target{channel: ch, shard: s}
		t.put.subject = s.prefix + memberKey(subKey, ch, uuid)
		t.known.rev, t.known.state, t.known.expires, t.known.present = s.lookup(subKey, ch, uuid)
		ts[i] = t
	}
	return ts
}

// byShard groups targets by bucket, in bucket order, keeping each group's
// order.
func byShard(ts []*target) [][]*target {
	var out [][]*target
	for _, t := range ts {
		i := slices.IndexFunc(out, func(g []*target) bool { return g[0].shard == t.shard })
		if i < 0 {
			out = append(out, []*target{t})
		} else {
			out[i] = append(out[i], t)
		}
	}
	slices.SortFunc(out, func(a, b []*target) int { return a[0].shard.idx - b[0].shard.idx })
	return out
}

// applyWrite writes one bucket's targets all or none, with build making
// each target's put from what is known of its key (false: leave the key
// alone; an error: write nothing and return it). A compare-and-swap that
// loses reads the keys from the bucket and redoes the whole write, up to
// maxAttempts times.
func (n *Node) applyWrite(ctx context.Context, ts []*target, build func(t *target) (bool, error)) ([]*target, error) {
	for attempt := 0; ; attempt++ {
		var ps []*put
		var written []*target
		for _, t := range ts {
			t.put.seq = 0
			ok, err := build(t)
			if err != nil {
				return nil, err
			}
			if ok {
				ps = append(ps, &t.put)
				written = append(written, t)
			}
		}
		if len(ps) == 0 {
			return nil, nil
		}
		err := n.write(ctx, ps)
		if err == nil {
			return written, nil
		}
		if !isConflict(err) {
			return nil, unavailable("writing to bucket "+ts[0].shard.bucket, err)
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("%w: the keys of bucket %s changed %d times meanwhile", engine.ErrUnavailable, ts[0].shard.bucket, maxAttempts)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, unavailable("writing to bucket "+ts[0].shard.bucket, err)
		}
		for _, t := range ts {
			if t.known, err = t.shard.fetch(ctx, t.put.subject); err != nil {
				return nil, unavailable("reading bucket "+t.shard.bucket, err)
			}
			t.fetched = true
		}
	}
}

// backoff waits a little, at random, after the attempt-th lost
// compare-and-swap, so that writers racing for one key spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Heartbeat records that r.UUID is alive on r's channels, as
// engine.Engine.Heartbeat does: on a channel where the uuid is absent it
// joins, where it is present its key's TTL starts again, with the state the
// call gives or the one the key holds. Validation, errors and the result are
// the engine's; in addition it fails with engine.ErrUnavailable, having
// applied nothing, when JetStream cannot be reached.
//
// The keys of one bucket are written together or not at all (an atomic
// batch); with several buckets, a call whose channels span them is written
// bucket by bucket. Each key is written with a compare-and-swap on the
// message the node last knew of it, so a heartbeat through a node whose view
// lags never overwrites state set through another: it loses, reads the key
// and writes again. Joins and state changes return once the node's view
// holds them (read-your-writes).
func (n *Node) Heartbeat(ctx context.Context, r engine.HeartbeatRequest) (engine.HeartbeatResult, error) {
	if err := n.usable(); err != nil {
		return engine.HeartbeatResult{}, err
	}
	channels, via, err := n.validateCall(r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded)
	if err != nil {
		return engine.HeartbeatResult{}, err
	}
	if r.Timeout < 0 {
		return engine.HeartbeatResult{}, fmt.Errorf("%w: %v is negative", engine.ErrInvalidTimeout, r.Timeout)
	}
	states, err := n.compactStates(r)
	if err != nil {
		return engine.HeartbeatResult{}, err
	}
	timeout := n.cfg.clampTimeout(r.Timeout)
	ttl := ttlOf(timeout)
	res := engine.HeartbeatResult{Timeout: timeout}
	deadline := time.Now().Add(timeout).UnixNano()

	channels = dedup(channels)
	ts := n.plan(r.SubKey, r.UUID, channels)
	absent := 0
	for _, t := range ts {
		if st, ok := states[t.channel]; ok {
			t.state, t.setsSt = st, true
		} else if st, ok := states[via[t.channel]]; ok && via[t.channel] != "" {
			t.state, t.setsSt = st, true
		}
		if !t.known.present {
			absent++
		}
	}
	if err := n.reserve(absent); err != nil {
		return engine.HeartbeatResult{}, err
	}
	defer n.unreserve(absent)
	n.count.heartbeats.Add(1)

	ctx, cancel := n.callContext(ctx)
	defer cancel()
	var joined, refreshed []*target
	for _, group := range byShard(ts) {
		written, err := n.applyWrite(ctx, group, func(t *target) (bool, error) {
			if t.fetched && t.known.present && t.known.expires >= deadline && (!t.setsSt || bytesEqual(t.state, t.known.state)) {
				// A heartbeat that raced this one and won left the key
				// with this one's state and at least its deadline.
				return false, nil
			}
			t.put.rev, t.put.ttl, t.put.remove = t.known.rev, ttl, false
			// A key's newest message must expire last, or JetStream writes
			// no marker when it does: a write that would expire before the
			// key's last message (a shorter timeout, a join over a leave's
			// marker) drops the key's older messages.
			t.put.rollup = time.Now().Add(ttlOf(ttl)).UnixNano() < t.known.expires
			t.put.value = t.known.state
			if t.setsSt {
				t.put.value = t.state
			}
			return true, nil
		})
		if err != nil {
			return engine.HeartbeatResult{}, err
		}
		var wait uint64
		for _, t := range group {
			if !slices.Contains(written, t) {
				wait = max(wait, t.known.rev) // covered by the write that won: read it
			}
		}
		for _, t := range written {
			switch {
			case !t.known.present:
				joined = append(joined, t)
				wait = max(wait, t.put.seq)
			case t.setsSt && !bytesEqual(t.state, t.known.state):
				wait = max(wait, t.put.seq)
			default:
				refreshed = append(refreshed, t)
			}
		}
		if wait > 0 {
			_ = group[0].shard.waitApplied(ctx, wait) // the write stands; the view may lag
		}
	}
	now := time.Now().UnixNano()
	for _, t := range refreshed {
		t.shard.refreshed(r.SubKey, t.channel, r.UUID, t.known.rev, t.put.seq, now+int64(ttl))
	}
	for _, t := range joined {
		res.Joined = append(res.Joined, t.channel)
	}
	return res, nil
}

// compactStates validates r.State as the engine does: every key names a
// channel or group of the call, every value is a JSON object within
// MaxStateBytes.
func (n *Node) compactStates(r engine.HeartbeatRequest) (map[string]json.RawMessage, error) {
	if len(r.State) == 0 {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(r.State))
	for name, raw := range r.State {
		if !slices.Contains(r.Channels, name) && !slices.Contains(r.Groups, name) {
			return nil, fmt.Errorf("%w: state for %q, which the heartbeat does not name", engine.ErrInvalidState, name)
		}
		st, err := engine.CompactState(raw, n.cfg.MaxStateBytes)
		if err != nil {
			return nil, fmt.Errorf("state for %q: %w", name, err)
		}
		out[name] = st
	}
	return out, nil
}

// reserve claims room for joins against MaxMembers, as the node sees the
// cluster: its view and the joins in flight through it.
func (n *Node) reserve(joins int) error {
	if n.cfg.MaxMembers == 0 || joins == 0 {
		return nil
	}
	cur := n.reserved.Add(int64(joins))
	held := int64(0)
	for _, s := range n.shards {
		m, _, _ := s.sizes()
		held += m
	}
	if held+cur > int64(n.cfg.MaxMembers) {
		n.reserved.Add(-int64(joins))
		return fmt.Errorf("%w: %d members, at most %d", engine.ErrCapacity, held, n.cfg.MaxMembers)
	}
	return nil
}

func (n *Node) unreserve(joins int) {
	if n.cfg.MaxMembers != 0 && joins != 0 {
		n.reserved.Add(-int64(joins))
	}
}

// dedup returns names without repeats, in order.
func dedup(names []string) []string {
	for i := 1; i < len(names); i++ {
		if slices.Contains(names[:i], names[i]) {
			out := slices.Clone(names[:i])
			for _, x := range names[i+1:] {
				if !slices.Contains(out, x) {
					out = append(out, x)
				}
			}
			return out
		}
	}
	return names
}

// Leave removes r.UUID from r's channels, as engine.Engine.Leave does: each
// present member's key gets a leave marker (a compare-and-swap, so a member
// is left once however many leaves race), and every node sends its leave
// event. Leaving a channel one is not on is a no-op. It returns once the
// node's view no longer holds the members left.
func (n *Node) Leave(ctx context.Context, r engine.LeaveRequest) (engine.LeaveResult, error) {
	if err := n.usable(); err != nil {
		return engine.LeaveResult{}, err
	}
	channels, _, err := n.validateCall(r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded)
	if err != nil {
		return engine.LeaveResult{}, err
	}
	ctx, cancel := n.callContext(ctx)
	defer cancel()
	ts := n.plan(r.SubKey, r.UUID, dedup(channels))
	// A member the view does not hold may have joined through another node
	// a moment ago: the bucket itself says.
	for _, t := range ts {
		if !t.known.present {
			if t.known, err = t.shard.fetch(ctx, t.put.subject); err != nil {
				return engine.LeaveResult{}, unavailable("reading bucket "+t.shard.bucket, err)
			}
		}
	}
	var res engine.LeaveResult
	for _, group := range byShard(ts) {
		written, err := n.applyWrite(ctx, group, func(t *target) (bool, error) {
			// The marker outlives the key's older messages, which it keeps
			// for nodes still reading them: when it goes, they have gone.
			t.put.rev, t.put.remove, t.put.rollup = t.known.rev, true, false
			t.put.ttl = time.Duration(t.known.expires-time.Now().UnixNano()) + time.Second
			return t.known.present, nil
		})
		if err != nil {
			return res, err
		}
		var wait uint64
		for _, t := range written {
			res.Left = append(res.Left, t.channel)
			wait = max(wait, t.put.seq)
		}
		if wait > 0 {
			_ = group[0].shard.waitApplied(ctx, wait)
		}
	}
	// Left is in the order of the call, as the engine's.
	slices.SortStableFunc(res.Left, func(a, b string) int { return slices.Index(channels, a) - slices.Index(channels, b) })
	return res, nil
}

// SetState replaces the member's state on every named channel, as
// engine.Engine.SetState does: the uuid must be present on each (else an
// error wrapping engine.ErrNotPresent naming the others, and nothing is
// applied). A member's deadline does not move: its key keeps its remaining
// time, rounded up to a whole second.
func (n *Node) SetState(ctx context.Context, r engine.SetStateRequest) (json.RawMessage, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	channels, _, err := n.validateCall(r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded)
	if err != nil {
		return nil, err
	}
	if len(r.State) == 0 {
		return nil, fmt.Errorf("%w: no state given", engine.ErrInvalidState)
	}
	st, err := engine.CompactState(r.State, n.cfg.MaxStateBytes)
	if err != nil {
		return nil, err
	}
	channels = slices.Clone(channels)
	slices.Sort(channels)
	channels = slices.Compact(channels)
	if len(channels) == 0 {
		return nil, fmt.Errorf("%w: the channel groups %s have no channels", engine.ErrNotPresent, strings.Join(r.Groups, ", "))
	}
	ctx, cancel := n.callContext(ctx)
	defer cancel()
	ts := n.plan(r.SubKey, r.UUID, channels)
	var absent []string
	for _, t := range ts {
		if !t.known.present {
			if t.known, err = t.shard.fetch(ctx, t.put.subject); err != nil {
				return nil, unavailable("reading bucket "+t.shard.bucket, err)
			}
			if !t.known.present {
				absent = append(absent, t.channel)
			}
		}
	}
	if len(absent) > 0 {
		return nil, &engine.NotPresentError{UUID: strings.Clone(r.UUID), Channels: absent}
	}
	for _, group := range byShard(ts) {
		written, err := n.applyWrite(ctx, group, func(t *target) (bool, error) {
			if !t.known.present {
				// Left or timed out since it was checked: writing would
				// make it join.
				return false, &engine.NotPresentError{UUID: strings.Clone(r.UUID), Channels: []string{t.channel}}
			}
			remaining := time.Duration(t.known.expires - time.Now().UnixNano())
			t.put.rev, t.put.remove, t.put.value = t.known.rev, false, st
			t.put.ttl = max(remaining, time.Second)
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		var wait uint64
		for _, t := range written {
			wait = max(wait, t.put.seq)
		}
		_ = group[0].shard.waitApplied(ctx, wait)
	}
	return st, nil
}
