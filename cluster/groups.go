package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/engine"
)

// groupShard is the groups bucket: every channel group of every sub key, one
// key each, its value the group's channels, and the node's view of them.
type groupShard struct {
	follower
	n  *Node
	kv jetstream.KeyValue

	mu     sync.RWMutex
	groups map[string]map[string]*vgroup // by sub key, then name; under mu
}

// vgroup is one channel group as the bucket last said it.
type vgroup struct {
	channels []string // sorted; never modified once stored
	rev      uint64
}

func newGroupShard(ctx context.Context, n *Node) (*groupShard, error) {
	g := &groupShard{n: n, groups: make(map[string]map[string]*vgroup)}
	bucket := groupBucket(n.cfg.Bucket)
	// A group's history derives no events: its key keeps its last message
	// only, and a deleted group's marker leaves nothing older behind.
	if err := g.init(ctx, n, bucket, 1); err != nil {
		return nil, err
	}
	kv, err := n.js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, unavailable("bucket "+bucket, err)
	}
	g.kv = kv
	return g, nil
}

// apply reads one message of the groups bucket into the view.
func (g *groupShard) apply(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		g.n.log("cluster: message without metadata in bucket "+g.bucket, "err", err)
		return
	}
	seq := md.Sequence.Stream
	key := strings.TrimPrefix(m.Subject(), g.prefix)
	if key != settingsKey {
		if names, ok := splitKey(key, 2); ok {
			g.applyGroup(names[0], names[1], opOf(m.Headers()), seq, m.Data())
		} else {
			g.n.log("cluster: unknown key in bucket "+g.bucket, "key", key)
		}
	}
	g.done(seq)
}

func (g *groupShard) applyGroup(sk, name string, o op, seq uint64, data []byte) {
	var chs []string
	if o == opPut {
		if err := json.Unmarshal(data, &chs); err != nil {
			g.n.log("cluster: unreadable channel group", "sub_key", sk, "group", name, "err", err)
			return
		}
		slices.Sort(chs)
		chs = slices.Compact(chs)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	byName := g.groups[sk]
	if o != opPut || len(chs) == 0 {
		delete(byName, name)
		if len(byName) == 0 {
			delete(g.groups, sk)
		}
		return
	}
	if byName == nil {
		byName = make(map[string]*vgroup)
		g.groups[sk] = byName
	}
	byName[name] = &vgroup{channels: chs, rev: seq}
}

// lookup returns the channels of a group, sorted and shared (read-only), and
// its revision; nil and 0 when it does not exist.
func (g *groupShard) lookup(sk, name string) ([]string, uint64) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if v := g.groups[sk][name]; v != nil {
		return v.channels, v.rev
	}
	return nil, 0
}

// validateGroupCall checks a group call's names, as the engine does.
func (n *Node) validateGroupCall(subKey, group string, channels []string) error {
	if err := engine.ValidateSubKey(subKey); err != nil {
		return err
	}
	if err := engine.ValidateGroup(group); err != nil {
		return err
	}
	if len(channels) > n.cfg.MaxGroupChannels {
		return fmt.Errorf("%w: %d channels, at most %d", engine.ErrTooManyChannels, len(channels), n.cfg.MaxGroupChannels)
	}
	for _, ch := range channels {
		if err := engine.ValidateChannel(ch); err != nil {
			return err
		}
	}
	return nil
}

// GroupChannels returns the channels of group, sorted; empty when the group
// does not exist.
func (n *Node) GroupChannels(subKey, group string) ([]string, error) {
	if n.closed.Load() {
		return nil, engine.ErrClosed
	}
	if err := n.validateGroupCall(subKey, group, nil); err != nil {
		return nil, err
	}
	chs, _ := n.groups.lookup(subKey, group)
	return append([]string{}, chs...), nil
}

// Groups returns the channel groups of subKey, sorted.
func (n *Node) Groups(subKey string) ([]string, error) {
	if n.closed.Load() {
		return nil, engine.ErrClosed
	}
	if err := engine.ValidateSubKey(subKey); err != nil {
		return nil, err
	}
	g := n.groups
	g.mu.RLock()
	out := make([]string, 0, len(g.groups[subKey]))
	for name := range g.groups[subKey] {
		out = append(out, name)
	}
	g.mu.RUnlock()
	slices.Sort(out)
	return out, nil
}

// AddChannelsToGroup adds channels to group, creating the group. It fails
// with engine.ErrGroupFull, adding nothing, if the group would hold more than
// Config.MaxGroupChannels channels. Concurrent changes of one group through
// any nodes are each applied once: a change is a compare-and-swap of the
// group's key, redone on the group as it then is.
func (n *Node) AddChannelsToGroup(subKey, group string, channels ...string) error {
	return n.changeGroup(subKey, group, channels, true)
}

// RemoveChannelsFromGroup removes channels from group; channels not in it are
// ignored. A group left without channels is deleted.
func (n *Node) RemoveChannelsFromGroup(subKey, group string, channels ...string) error {
	return n.changeGroup(subKey, group, channels, false)
}

// maxAttempts bounds the compare-and-swaps of one change that lose to
// others before it gives up with engine.ErrUnavailable.
const maxAttempts = 16

func (n *Node) changeGroup(subKey, group string, channels []string, add bool) error {
	if err := n.usable(); err != nil {
		return err
	}
	if err := n.validateGroupCall(subKey, group, channels); err != nil {
		return err
	}
	ctx, cancel := n.callContext(context.Background())
	defer cancel()
	g := n.groups
	key := groupKey(subKey, group)
	cur, rev := g.lookup(subKey, group)
	for range maxAttempts {
		next := slices.Clone(cur)
		if add {
			next = append(next, channels...)
		} else {
			next = slices.DeleteFunc(next, func(ch string) bool { return slices.Contains(channels, ch) })
		}
		slices.Sort(next)
		next = slices.Compact(next)
		if slices.Equal(next, cur) {
			return nil // nothing to change: the view holds it already
		}
		if len(next) > n.cfg.MaxGroupChannels {
			return fmt.Errorf("%w: %q would hold %d channels, at most %d", engine.ErrGroupFull, group, len(next), n.cfg.MaxGroupChannels)
		}
		var seq uint64
		var err error
		switch {
		case len(next) == 0:
			seq, err = n.removeKey(ctx, g.prefix+key, rev)
		case rev == 0:
			val, _ := json.Marshal(next)
			seq, err = g.kv.Create(ctx, key, val)
		default:
			val, _ := json.Marshal(next)
			seq, err = g.kv.Update(ctx, key, val, rev)
		}
		if err == nil {
			_ = g.waitApplied(ctx, seq) // the write stands; the view may lag
			return nil
		}
		if !isConflict(err) {
			return unavailable("channel group "+group, err)
		}
		if cur, rev, err = g.fetch(ctx, key); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: channel group %q changed %d times meanwhile", engine.ErrUnavailable, group, maxAttempts)
}

// fetch reads a group's key from the bucket itself, for a compare-and-swap
// that the view was too old for.
func (g *groupShard) fetch(ctx context.Context, key string) ([]string, uint64, error) {
	e, err := g.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, nil
	case errors.Is(err, jetstream.ErrKeyDeleted):
		return nil, e.Revision(), nil
	case err != nil:
		return nil, 0, unavailable("reading a channel group", err)
	}
	var chs []string
	if err := json.Unmarshal(e.Value(), &chs); err != nil {
		return nil, 0, fmt.Errorf("%w: channel group %s is not readable: %v", engine.ErrUnavailable, key, err)
	}
	slices.Sort(chs)
	return slices.Compact(chs), e.Revision(), nil
}

// DeleteGroup deletes group. Deleting a group that does not exist is a no-op.
// Members present on its channels stay present.
func (n *Node) DeleteGroup(subKey, group string) error {
	if err := n.usable(); err != nil {
		return err
	}
	if err := n.validateGroupCall(subKey, group, nil); err != nil {
		return err
	}
	ctx, cancel := n.callContext(context.Background())
	defer cancel()
	g := n.groups
	key := groupKey(subKey, group)
	cur, rev := g.lookup(subKey, group)
	for range maxAttempts {
		if cur == nil {
			return nil
		}
		seq, err := n.removeKey(ctx, g.prefix+key, rev)
		if err == nil {
			_ = g.waitApplied(ctx, seq)
			return nil
		}
		if !isConflict(err) {
			return unavailable("channel group "+group, err)
		}
		if cur, rev, err = g.fetch(ctx, key); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: channel group %q changed %d times meanwhile", engine.ErrUnavailable, group, maxAttempts)
}
