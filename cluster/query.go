package cluster

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/presenced/presence/engine"
)

// HereNow tells who is present on the requested channels, as
// engine.Engine.HereNow does, from the node's view: it holds every change
// this node wrote, and those written through other nodes once they have
// reached it (see the package documentation for the lag).
func (n *Node) HereNow(r engine.HereNowRequest) (engine.HereNowResult, error) {
	if n.closed.Load() {
		return engine.HereNowResult{}, engine.ErrClosed
	}
	if err := engine.ValidateSubKey(r.SubKey); err != nil {
		return engine.HereNowResult{}, err
	}
	if r.Limit < 0 || r.Offset < 0 {
		return engine.HereNowResult{}, errPaging(r.Limit, r.Offset)
	}
	if r.Limit == 0 {
		r.Limit = engine.DefaultHereNowLimit
	}
	var res engine.HereNowResult
	now := time.Now().UnixNano()
	add := func(s *shard, ch *vchannel) {
		cp := engine.ChannelPresence{Channel: ch.name, Occupancy: len(ch.members)}
		if cp.Occupancy == 0 {
			return
		}
		if r.UUIDs || r.State || r.TimeLeft {
			cp.Members = []engine.Member{}
			if r.Offset < len(ch.members) {
				page := ch.members[r.Offset:min(len(ch.members), r.Offset+r.Limit)]
				cp.Members = make([]engine.Member, len(page))
				for i, m := range page {
					cp.Members[i].UUID = m.c.uuid
					if r.State {
						cp.Members[i].State = m.state
					}
					if r.TimeLeft {
						// Until the key's TTL runs out, by this node's clock.
						cp.Members[i].TimeLeft = time.Duration(max(m.expires.Load()-now, 0))
					}
				}
			}
		}
		res.Channels = append(res.Channels, cp)
		res.TotalOccupancy += cp.Occupancy
	}
	if len(r.Channels) == 0 && len(r.Groups) == 0 && r.Expanded == nil {
		for _, s := range n.shards {
			s.mu.RLock()
			if sp := s.spaces[r.SubKey]; sp != nil {
				for _, ch := range sp.channels {
					add(s, ch)
				}
			}
			s.mu.RUnlock()
		}
	} else {
		targets, _, err := n.targets(r.SubKey, r.Channels, r.Groups, r.Expanded)
		if err != nil {
			return engine.HereNowResult{}, err
		}
		targets = slices.Clone(targets)
		slices.Sort(targets)
		for _, name := range slices.Compact(targets) {
			s := n.shards[bucketOf(r.SubKey, name, len(n.shards))]
			s.mu.RLock()
			if sp := s.spaces[r.SubKey]; sp != nil {
				if ch := sp.channels[name]; ch != nil {
					add(s, ch)
				}
			}
			s.mu.RUnlock()
		}
	}
	slices.SortFunc(res.Channels, func(a, b engine.ChannelPresence) int { return cmp.Compare(a.Channel, b.Channel) })
	res.TotalChannels = len(res.Channels)
	return res, nil
}

func errPaging(limit, offset int) error {
	if limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", engine.ErrInvalidPaging, limit)
	}
	return fmt.Errorf("%w: offset %d is negative", engine.ErrInvalidPaging, offset)
}

// Occupancy returns the number of uuids present on channel, from the view.
func (n *Node) Occupancy(subKey, channel string) (int, error) {
	if n.closed.Load() {
		return 0, engine.ErrClosed
	}
	if err := engine.ValidateSubKey(subKey); err != nil {
		return 0, err
	}
	if err := engine.ValidateChannel(channel); err != nil {
		return 0, err
	}
	s := n.shards[bucketOf(subKey, channel, len(n.shards))]
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sp := s.spaces[subKey]; sp != nil {
		if ch := sp.channels[channel]; ch != nil {
			return len(ch.members), nil
		}
	}
	return 0, nil
}

// WhereNow returns the channels uuid is present on, sorted; empty (not nil)
// when none.
func (n *Node) WhereNow(subKey, uuid string) ([]string, error) {
	if n.closed.Load() {
		return nil, engine.ErrClosed
	}
	if err := engine.ValidateSubKey(subKey); err != nil {
		return nil, err
	}
	if err := engine.ValidateUUID(uuid); err != nil {
		return nil, err
	}
	out := []string{}
	for _, s := range n.shards {
		s.mu.RLock()
		if sp := s.spaces[subKey]; sp != nil {
			if c := sp.clients[uuid]; c != nil {
				for _, m := range c.ms {
					out = append(out, m.ch.name)
				}
			}
		}
		s.mu.RUnlock()
	}
	slices.Sort(out)
	return out, nil
}

// GetState returns the state of r.UUID on each named channel where it is
// present, keyed by channel; a member without state maps to {}.
func (n *Node) GetState(r engine.GetStateRequest) (map[string]json.RawMessage, error) {
	if n.closed.Load() {
		return nil, engine.ErrClosed
	}
	channels, _, err := n.validateCall(r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage)
	for _, name := range channels {
		s := n.shards[bucketOf(r.SubKey, name, len(n.shards))]
		if _, st, _, ok := s.lookup(r.SubKey, name, r.UUID); ok {
			if st == nil {
				st = json.RawMessage("{}")
			}
			out[name] = st
		}
	}
	return out, nil
}
