package console

import (
	"cmp"
	"slices"
	"sync"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// Inspector is what the console reads from a presence service beyond
// httpapi.Presence, when the service offers it: totals per sub key and the
// busiest channels, a page at a time, without listing a whole sub key.
// *engine.Engine implements it.
//
// Its methods must be safe for concurrent use, and cheap enough to be
// called about once a second on a large keyspace: the console paces them
// by what they cost, but never pages through more than it shows. A
// service that implements Inspector also honours
// engine.HereNowRequest.TimeLeft, filling engine.Member.TimeLeft: the
// console asks for it only from an Inspector, and shows each member's time
// left only then.
//
// Without an Inspector the console falls back on what httpapi.Presence
// offers: it knows the sub keys of Config.SubKeys and those it has seen
// events of; it reads totals and the busiest channels from HereNow over the
// whole sub key, counts only (memory for one entry per channel during the
// read, never sent whole), and leaves the uuid totals and the time left
// unknown.
type Inspector interface {
	// SubKeys returns the totals of every sub key the service holds (see
	// engine.Engine.SubKeys).
	SubKeys() ([]engine.SubKeyStats, error)
	// TopChannels returns a page of a sub key's channels, busiest first
	// (see engine.Engine.TopChannels; engine.CheckTopChannels and
	// engine.TopChannelsHeap give its checks and its order).
	TopChannels(r engine.TopChannelsRequest) (engine.TopChannelsResult, error)
}

var _ Inspector = (*engine.Engine)(nil)

// maxKnownSubKeys bounds the sub keys a source without an Inspector
// remembers from events.
const maxKnownSubKeys = 1024

// source reads presence for the console: through the Inspector when the
// service is one, through HereNow otherwise. Only reads: nothing here calls
// a method of httpapi.Presence that changes presence.
type source struct {
	p    httpapi.Presence
	insp Inspector // nil when p is not one

	mu    sync.Mutex
	known map[string]struct{} // without an Inspector: sub keys offered or seen
}

func newSource(p httpapi.Presence, subKeys []string) *source {
	s := &source{p: p, known: make(map[string]struct{})}
	s.insp, _ = p.(Inspector)
	for _, sk := range subKeys {
		s.known[sk] = struct{}{}
	}
	return s
}

// timeLeft reports whether members come with their time left.
func (s *source) timeLeft() bool { return s.insp != nil }

// uuidTotals reports whether sub key totals count uuids.
func (s *source) uuidTotals() bool { return s.insp != nil }

// saw records a sub key seen in an event, for a source without Inspector.
func (s *source) saw(subKey string) {
	if s.insp != nil {
		return
	}
	s.mu.Lock()
	if _, ok := s.known[subKey]; !ok && len(s.known) < maxKnownSubKeys {
		s.known[subKey] = struct{}{}
	}
	s.mu.Unlock()
}

// subKeys returns the totals of every sub key, UUIDs -1 where unknown.
func (s *source) subKeys() ([]engine.SubKeyStats, error) {
	if s.insp != nil {
		return s.insp.SubKeys()
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.known))
	for sk := range s.known {
		names = append(names, sk)
	}
	s.mu.Unlock()
	slices.Sort(names)
	out := make([]engine.SubKeyStats, 0, len(names))
	for _, sk := range names {
		res, err := s.p.HereNow(engine.HereNowRequest{SubKey: sk})
		if err != nil {
			return nil, err
		}
		out = append(out, engine.SubKeyStats{SubKey: sk, Channels: res.TotalChannels, Members: res.TotalOccupancy, UUIDs: -1})
	}
	return out, nil
}

// topChannels returns a page of channels, busiest first.
func (s *source) topChannels(r engine.TopChannelsRequest) (engine.TopChannelsResult, error) {
	if s.insp != nil {
		return s.insp.TopChannels(r)
	}
	if err := engine.CheckTopChannels(r); err != nil {
		return engine.TopChannelsResult{}, err
	}
	all, err := s.p.HereNow(engine.HereNowRequest{SubKey: r.SubKey})
	if err != nil {
		return engine.TopChannelsResult{}, err
	}
	var res engine.TopChannelsResult
	top := engine.TopChannelsHeap{Limit: r.Limit, After: r.After}
	for _, cp := range all.Channels {
		if cp.Occupancy == 0 || !engine.ContainsFold(cp.Channel, r.Match) {
			continue
		}
		res.Matched++
		res.Members += cp.Occupancy
		top.Offer(engine.ChannelCount{Channel: cp.Channel, Occupancy: cp.Occupancy})
	}
	res.Channels = top.Sorted()
	return res, nil
}

// members returns a page of one channel's members with their state, and
// their time left when the source knows it, and the channel's occupancy.
func (s *source) members(subKey, channel string, limit, offset int) (engine.ChannelPresence, error) {
	res, err := s.p.HereNow(engine.HereNowRequest{
		SubKey: subKey, Channels: []string{channel},
		UUIDs: true, State: true, TimeLeft: s.timeLeft(),
		Limit: limit, Offset: offset,
	})
	if err != nil || len(res.Channels) == 0 {
		return engine.ChannelPresence{Channel: channel, Members: []engine.Member{}}, err
	}
	return res.Channels[0], nil
}

// sortByMembers orders sub key totals by members, largest first, then name.
func sortByMembers(s []engine.SubKeyStats) {
	slices.SortFunc(s, func(a, b engine.SubKeyStats) int {
		if c := cmp.Compare(b.Members, a.Members); c != 0 {
			return c
		}
		return cmp.Compare(a.SubKey, b.SubKey)
	})
}
