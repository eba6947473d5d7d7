package engine

import (
	"fmt"
	"slices"
	"strings"
)

// AddChannelsToGroup adds channels to group, creating the group. It fails with
// ErrGroupFull, adding nothing, if the group would hold more than
// Config.MaxGroupChannels channels.
func (e *Engine) AddChannelsToGroup(subKey, group string, channels ...string) error {
	if err := e.validateGroupCall(subKey, group, channels); err != nil {
		return err
	}
	ks, tok := e.liveKeyspace(subKey, nil)
	defer ks.pins.unpin(e.count, tok)
	for {
		g, _ := ks.groups.GetOrCreate(group, func() *chanGroup {
			return &chanGroup{name: strings.Clone(group), channels: make(map[string]struct{})}
		})
		g.mu.Lock()
		if g.dead {
			g.mu.Unlock()
			continue
		}
		n := len(g.channels)
		for _, ch := range channels {
			if _, ok := g.channels[ch]; !ok {
				n++
			}
		}
		if n > e.cfg.MaxGroupChannels {
			g.mu.Unlock()
			return fmt.Errorf("%w: %q would hold %d channels, at most %d", ErrGroupFull, group, n, e.cfg.MaxGroupChannels)
		}
		for _, ch := range channels {
			if _, ok := g.channels[ch]; !ok {
				g.channels[strings.Clone(ch)] = struct{}{}
			}
		}
		g.mu.Unlock()
		return nil
	}
}

// RemoveChannelsFromGroup removes channels from group; channels not in it are
// ignored. A group left without channels is deleted.
func (e *Engine) RemoveChannelsFromGroup(subKey, group string, channels ...string) error {
	if err := e.validateGroupCall(subKey, group, channels); err != nil {
		return err
	}
	if ks := e.keyspace(subKey, false); ks != nil {
		if g := ks.groups.Get(group); g != nil {
			g.mu.Lock()
			for _, ch := range channels {
				delete(g.channels, ch)
			}
			if len(g.channels) == 0 {
				ks.deleteGroupLocked(group, g)
			}
			g.mu.Unlock()
		}
	}
	return nil
}

// GroupChannels returns the channels of group, sorted; empty when the group
// does not exist.
func (e *Engine) GroupChannels(subKey, group string) ([]string, error) {
	if err := e.validateGroupCall(subKey, group, nil); err != nil {
		return nil, err
	}
	out := []string{}
	if ks := e.keyspace(subKey, false); ks != nil {
		out = ks.groupChannels(group, out)
	}
	slices.Sort(out)
	return out, nil
}

// Groups returns the channel groups of subKey, sorted.
func (e *Engine) Groups(subKey string) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := validateSubKey(subKey); err != nil {
		return nil, err
	}
	out := []string{}
	if ks := e.keyspace(subKey, false); ks != nil {
		ks.groups.Range(func(g *chanGroup) bool {
			out = append(out, g.name)
			return true
		})
	}
	slices.Sort(out)
	return out, nil
}

// DeleteGroup deletes group. Deleting a group that does not exist is a no-op.
// Members present on its channels stay present.
func (e *Engine) DeleteGroup(subKey, group string) error {
	if err := e.validateGroupCall(subKey, group, nil); err != nil {
		return err
	}
	if ks := e.keyspace(subKey, false); ks != nil {
		if g := ks.groups.Get(group); g != nil {
			g.mu.Lock()
			ks.deleteGroupLocked(group, g)
			g.mu.Unlock()
		}
	}
	return nil
}

func (e *Engine) validateGroupCall(subKey, group string, channels []string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if err := validateSubKey(subKey); err != nil {
		return err
	}
	if err := ValidateGroup(group); err != nil {
		return err
	}
	return validateNames(nil, channels, nil, e.cfg.MaxGroupChannels)
}

// deleteGroupLocked drops g from the keyspace. Under g.mu.
func (ks *keyspace) deleteGroupLocked(name string, g *chanGroup) {
	g.dead = true
	ks.groups.DeleteIf(name, g)
}

// groupChannels appends the channels of group name to dst.
func (ks *keyspace) groupChannels(name string, dst []string) []string {
	g := ks.groups.Get(name)
	if g == nil {
		return dst
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range g.channels {
		dst = append(dst, ch)
	}
	return dst
}

// expand returns channels followed by the channels of groups, without
// duplicates, and, if withVia is set, for each channel that came only from a
// group, the group it came from (the first one named).
func (ks *keyspace) expand(channels, groups []string, withVia bool) ([]string, map[string]string) {
	seen := make(map[string]struct{}, len(channels))
	out := make([]string, 0, len(channels))
	for _, ch := range channels {
		if _, ok := seen[ch]; !ok {
			seen[ch] = struct{}{}
			out = append(out, ch)
		}
	}
	var via map[string]string
	if withVia {
		via = make(map[string]string)
	}
	var buf []string
	for _, g := range groups {
		buf = ks.groupChannels(g, buf[:0])
		slices.Sort(buf) // a deterministic order for callers
		for _, ch := range buf {
			if _, ok := seen[ch]; !ok {
				seen[ch] = struct{}{}
				out = append(out, ch)
				if withVia {
					via[ch] = g
				}
			}
		}
	}
	return out, via
}

func errPaging(limit, offset int) error {
	if limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", ErrInvalidPaging, limit)
	}
	return fmt.Errorf("%w: offset %d is negative", ErrInvalidPaging, offset)
}
