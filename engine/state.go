package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/presenced/presence/internal/index"
)

// SetStateRequest replaces the state of uuid UUID on Channels and on every
// channel of Groups.
type SetStateRequest struct {
	SubKey   string
	UUID     string
	Channels []string
	Groups   []string
	// State is a JSON object; {} clears the state.
	State json.RawMessage
	// Expanded, if not nil, is Channels and Groups as the caller resolved
	// them with Expand: the call acts on exactly those channels instead of
	// reading the groups again. Its names are checked like the call's.
	Expanded *Expansion
}

// SetState replaces the member's whole state on every named channel with
// r.State and publishes state-change where it changed. The uuid must be
// present on every channel: otherwise SetState returns an error wrapping
// ErrNotPresent that names the channels where it is not, and applies nothing.
// It returns the compacted state stored (nil for {}).
func (e *Engine) SetState(ctx context.Context, r SetStateRequest) (json.RawMessage, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := e.validateCall(held{}, r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded); err != nil {
		return nil, err
	}
	if len(r.State) == 0 {
		return nil, fmt.Errorf("%w: no state given", ErrInvalidState)
	}
	st, err := CompactState(r.State, e.cfg.MaxStateBytes)
	if err != nil {
		return nil, err
	}
	ks := e.keyspace(r.SubKey, false)
	var targets []string
	switch {
	case r.Expanded != nil:
		targets = slices.Clone(r.Expanded.Channels)
	case ks != nil:
		targets, _ = ks.targets(r.Channels, r.Groups, nil, false)
		targets = slices.Clone(targets)
	default:
		targets = slices.Clone(r.Channels)
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: the channel groups %s have no channels", ErrNotPresent, strings.Join(r.Groups, ", "))
	}
	if err := e.backpressure(ctx); err != nil {
		return nil, err
	}

	// Lock every channel, in name order so that concurrent calls cannot
	// deadlock, check presence everywhere, then apply everywhere.
	locked := make([]*channel, 0, len(targets))
	defer func() {
		for _, ch := range locked {
			ch.mu.Unlock()
		}
	}()
	var absent []string
	var ms []*member
	for _, name := range targets {
		var m *member
		if ks != nil {
			if ch := ks.channels.Get(name); ch != nil {
				ch.lock()
				locked = append(locked, ch)
				m = findLocked(ks, index.NewKey(r.UUID), ch)
			}
		}
		if m == nil {
			absent = append(absent, name)
		}
		ms = append(ms, m)
	}
	if len(absent) > 0 {
		return nil, &NotPresentError{UUID: strings.Clone(r.UUID), Channels: absent}
	}
	var t counts
	for _, m := range ms {
		e.setStateLocked(&t, m.ch, m, st)
	}
	e.count.add(nil, &t)
	return st, nil
}

// GetStateRequest asks for the state of uuid UUID on Channels and on every
// channel of Groups.
type GetStateRequest struct {
	SubKey   string
	UUID     string
	Channels []string
	Groups   []string
	// Expanded, if not nil, is Channels and Groups as the caller resolved
	// them with Expand: the call acts on exactly those channels instead of
	// reading the groups again. Its names are checked like the call's.
	Expanded *Expansion
}

// GetState returns the state of r.UUID on each named channel where it is
// present, keyed by channel; a member without state maps to {}. Channels
// where the uuid is absent are left out.
func (e *Engine) GetState(r GetStateRequest) (map[string]json.RawMessage, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := e.validateCall(held{}, r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage)
	ks := e.keyspace(r.SubKey, false)
	if ks == nil {
		return out, nil
	}
	key := index.NewKey(r.UUID)
	if ks.clients.GetKey(key) == nil {
		return out, nil
	}
	targets := r.Channels
	if len(r.Groups) > 0 || r.Expanded != nil {
		targets, _ = ks.targets(r.Channels, r.Groups, r.Expanded, false)
	}
	for _, name := range targets {
		ch := ks.channels.Get(name)
		if ch == nil {
			continue
		}
		ch.mu.RLock()
		if m := findLocked(ks, key, ch); m != nil {
			st := ch.state[m]
			if st == nil {
				st = json.RawMessage("{}")
			}
			out[name] = st
		}
		ch.mu.RUnlock()
	}
	return out, nil
}

// findLocked returns the member of uuid on ch, or nil. The caller holds ch.mu
// (read or write), which makes the answer exact.
func findLocked(ks *keyspace, uuid index.Key, ch *channel) *member {
	if ch.dead {
		return nil
	}
	if c := ks.clients.GetKey(uuid); c != nil {
		return c.find(ch.name)
	}
	return nil
}

// NotPresentError is the error of SetState for a uuid absent from some of the
// channels it names. It matches ErrNotPresent with errors.Is.
type NotPresentError struct {
	UUID     string
	Channels []string // where the uuid is not present, sorted
}

func (e *NotPresentError) Error() string {
	return fmt.Sprintf("%v: %q is not on %s", ErrNotPresent, e.UUID, strings.Join(e.Channels, ", "))
}

// Is reports whether target is ErrNotPresent.
func (e *NotPresentError) Is(target error) bool { return target == ErrNotPresent }
