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
	defer ks.pins.unpin(e.count, tok, nil)
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
	if err := ValidateSubKey(subKey); err != nil {
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
	if err := ValidateSubKey(subKey); err != nil {
		return err
	}
	if err := ValidateGroup(group); err != nil {
		return err
	}
	return validateNames(held{}, channels, nil, e.cfg.MaxGroupChannels)
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

// Expansion is what a call acts on: the channels it names, followed by the
// member channels of the channel groups it names, as the groups were read
// once. A caller that must look at those channels before the call (an HTTP
// adapter asking an authorizer about each, say) resolves them with Expand and
// hands the result to the call, which then acts on exactly those channels
// rather than reading the groups again.
type Expansion struct {
	// Channels are the channels the call names, each once, in the order
	// named, followed by the member channels of its groups that it does not
	// name, each once: group by group in the order named, each group's
	// channels sorted.
	Channels []string
	// Named is how many channels at the start of Channels the call names
	// itself; the rest were reached only through a group.
	Named int
	// Via[i] is the group through which Channels[Named+i] was reached: the
	// first group named that holds it.
	Via []string
}

// FromGroups returns the channels reached only through a group.
func (x *Expansion) FromGroups() []string { return x.Channels[x.Named:] }

// Expand resolves a call's channels and channel groups into an Expansion.
// members returns the channels of a group (any order; empty for a group that
// does not exist) and is called once for each group named, in order; Expand
// returns its first error. It checks no names: the call that receives the
// expansion does.
func Expand(channels, groups []string, members func(group string) ([]string, error)) (Expansion, error) {
	var x Expansion
	d := newDedup(len(channels))
	for _, ch := range channels {
		if d.add(ch) {
			x.Channels = append(x.Channels, ch)
		}
	}
	x.Named = len(x.Channels)
	for _, g := range groups {
		chs, err := members(g)
		if err != nil {
			return Expansion{}, err
		}
		if !slices.IsSorted(chs) {
			chs = slices.Sorted(slices.Values(chs))
		}
		for _, ch := range chs {
			if d.add(ch) {
				x.Channels = append(x.Channels, ch)
				x.Via = append(x.Via, g)
			}
		}
	}
	return x, nil
}

// dedup remembers the names seen: by looking through them while they are
// few, in a set once they are more.
type dedup struct {
	seen []string
	set  map[string]struct{}
}

// dedupLinear is how many names dedup looks through before it builds a set.
const dedupLinear = 16

func newDedup(hint int) dedup {
	if hint > dedupLinear {
		return dedup{set: make(map[string]struct{}, hint)}
	}
	return dedup{}
}

// add records name and reports whether it was new.
func (d *dedup) add(name string) bool {
	if d.set == nil {
		if slices.Contains(d.seen, name) {
			return false
		}
		if len(d.seen) < dedupLinear {
			d.seen = append(d.seen, name)
			return true
		}
		d.set = make(map[string]struct{}, 4*dedupLinear)
		for _, s := range d.seen {
			d.set[s] = struct{}{}
		}
		d.seen = nil
	}
	if _, dup := d.set[name]; dup {
		return false
	}
	d.set[name] = struct{}{}
	return true
}

// targets returns the channels a call acts on, as Expansion.Channels lists
// them, and, if withVia is set, the group each channel reached only through a
// group came from. x, if not nil, is the caller's expansion (checked by
// checkExpansion); otherwise the groups are read now.
func (ks *keyspace) targets(channels, groups []string, x *Expansion, withVia bool) ([]string, map[string]string) {
	if x == nil {
		if len(groups) == 0 {
			return channels, nil
		}
		var buf []string
		exp, _ := Expand(channels, groups, func(g string) ([]string, error) {
			buf = ks.groupChannels(g, buf[:0])
			return buf, nil
		})
		x = &exp
	}
	var via map[string]string
	if withVia && len(x.Via) > 0 {
		via = make(map[string]string, len(x.Via))
		for i, ch := range x.FromGroups() {
			via[ch] = x.Via[i]
		}
	}
	return x.Channels, via
}

// checkExpansion checks a caller's expansion of a call that names channels
// and groups: its names, and that it is an expansion of that call.
func checkExpansion(x *Expansion, channels, groups []string) error {
	if x.Named < 0 || x.Named > len(x.Channels) || len(x.Via) != len(x.Channels)-x.Named {
		return fmt.Errorf("%w: expansion of %d channels, %d named, %d reached through groups", ErrInvalidGroup, len(x.Channels), x.Named, len(x.Via))
	}
	for _, ch := range x.Channels[:x.Named] {
		if !slices.Contains(channels, ch) {
			return fmt.Errorf("%w: expansion names %q, which the call does not name", ErrInvalidChannel, ch)
		}
	}
	for i, ch := range x.FromGroups() {
		if err := ValidateChannel(ch); err != nil {
			return err
		}
		if !slices.Contains(groups, x.Via[i]) {
			return fmt.Errorf("%w: expansion reaches %q through %q, which the call does not name", ErrInvalidGroup, ch, x.Via[i])
		}
	}
	return nil
}

func errPaging(limit, offset int) error {
	if limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", ErrInvalidPaging, limit)
	}
	return fmt.Errorf("%w: offset %d is negative", ErrInvalidPaging, offset)
}
