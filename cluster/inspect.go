package cluster

import (
	"cmp"
	"slices"

	"github.com/presenced/presence/engine"
)

// SubKeys returns the totals of every sub key the node's view holds, sorted
// by sub key, as engine.Engine.SubKeys does (presenced's console reads it).
// With several buckets, a uuid present on channels of several buckets
// counts once in each for UUIDs. A sub key that holds only channel groups is
// listed with zeros.
func (n *Node) SubKeys() ([]engine.SubKeyStats, error) {
	if n.closed.Load() {
		return nil, engine.ErrClosed
	}
	bySK := make(map[string]*engine.SubKeyStats)
	get := func(sk string) *engine.SubKeyStats {
		st := bySK[sk]
		if st == nil {
			st = &engine.SubKeyStats{SubKey: sk}
			bySK[sk] = st
		}
		return st
	}
	for _, s := range n.shards {
		s.mu.RLock()
		for sk, sp := range s.spaces {
			st := get(sk)
			st.UUIDs += len(sp.clients)
			for _, ch := range sp.channels {
				st.Channels++
				st.Members += len(ch.members)
			}
		}
		s.mu.RUnlock()
	}
	g := n.groups
	g.mu.RLock()
	for sk := range g.groups {
		get(sk)
	}
	g.mu.RUnlock()
	out := make([]engine.SubKeyStats, 0, len(bySK))
	for _, st := range bySK {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b engine.SubKeyStats) int { return cmp.Compare(a.SubKey, b.SubKey) })
	return out, nil
}

// TopChannels returns a page of the channels of r.SubKey that have members,
// busiest first, as engine.Engine.TopChannels does, from the node's view:
// O(channels × log Limit) time, O(Limit) memory.
func (n *Node) TopChannels(r engine.TopChannelsRequest) (engine.TopChannelsResult, error) {
	if n.closed.Load() {
		return engine.TopChannelsResult{}, engine.ErrClosed
	}
	if err := engine.CheckTopChannels(r); err != nil {
		return engine.TopChannelsResult{}, err
	}
	var res engine.TopChannelsResult
	top := engine.TopChannelsHeap{Limit: r.Limit, After: r.After}
	for _, s := range n.shards {
		s.mu.RLock()
		if sp := s.spaces[r.SubKey]; sp != nil {
			for _, ch := range sp.channels {
				occ := len(ch.members)
				if occ == 0 || (r.Match != "" && !engine.ContainsFold(ch.name, r.Match)) {
					continue
				}
				res.Matched++
				res.Members += occ
				top.Offer(engine.ChannelCount{Channel: ch.name, Occupancy: occ})
			}
		}
		s.mu.RUnlock()
	}
	res.Channels = top.Sorted()
	return res, nil
}
