package engine

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"
)

// DefaultHereNowLimit is the number of uuids listed per channel when a
// HereNowRequest sets no Limit.
const DefaultHereNowLimit = 1000

// HereNowRequest asks who is on Channels and on every channel of Groups; with
// neither, on every channel of the sub key.
type HereNowRequest struct {
	SubKey   string
	Channels []string
	Groups   []string
	// UUIDs lists the members of each channel; State lists them with their
	// state (and implies UUIDs). Without either, only occupancies are counted.
	UUIDs, State bool
	// TimeLeft lists the members with the time each has left before it times
	// out (Member.TimeLeft), and implies UUIDs.
	TimeLeft bool
	// Limit and Offset page each channel's member list: at most Limit members
	// from the Offset-th on. Limit zero means DefaultHereNowLimit. The order
	// is unspecified but stable while the channel's membership does not
	// change.
	Limit, Offset int
	// Expanded, if not nil, is Channels and Groups as the caller resolved
	// them with Expand: the call acts on exactly those channels instead of
	// reading the groups again. Its names are checked like the call's.
	Expanded *Expansion
}

// HereNowResult is the answer to HereNow.
type HereNowResult struct {
	// Channels holds the channels that have members, sorted by name.
	Channels       []ChannelPresence
	TotalChannels  int
	TotalOccupancy int
}

// ChannelPresence is one channel of a HereNowResult.
type ChannelPresence struct {
	Channel   string
	Occupancy int
	// Members is the requested page of members; nil unless UUIDs or State
	// was asked for.
	Members []Member
}

// Member is one uuid present on a channel and, when asked for, its state
// there (nil when it has none) and the time it has left.
type Member struct {
	UUID  string
	State json.RawMessage
	// TimeLeft, set when the request asks for it, is how long the member
	// stays without another heartbeat, as of the call: its deadline less now,
	// both read on the engine's monotonic clock, so a step of the wall clock
	// does not move it. Zero for a member whose deadline has passed and whom
	// expiry has yet to remove (at most one Config.Tick later).
	TimeLeft time.Duration
}

// HereNow tells who is present on the requested channels. Occupancy is read
// in O(1) per channel; listing members costs O(Limit) per channel, plus,
// while leaves have left holes in its list that joins have not filled yet,
// the slots between the lowest hole and the page. It takes each channel's
// read lock in turn, never a global one.
func (e *Engine) HereNow(r HereNowRequest) (HereNowResult, error) {
	if e.closed.Load() {
		return HereNowResult{}, ErrClosed
	}
	if err := ValidateSubKey(r.SubKey); err != nil {
		return HereNowResult{}, err
	}
	if err := validateNames(held{}, r.Channels, r.Groups, e.cfg.MaxChannelsPerCall); err != nil {
		return HereNowResult{}, err
	}
	if r.Expanded != nil {
		if err := checkExpansion(r.Expanded, r.Channels, r.Groups); err != nil {
			return HereNowResult{}, err
		}
	}
	if r.Limit < 0 || r.Offset < 0 {
		return HereNowResult{}, errPaging(r.Limit, r.Offset)
	}
	if r.Limit == 0 {
		r.Limit = DefaultHereNowLimit
	}
	var res HereNowResult
	ks := e.keyspace(r.SubKey, false)
	if ks == nil {
		return res, nil
	}
	add := func(ch *channel) {
		if cp, ok := e.presence(ch, r); ok {
			res.Channels = append(res.Channels, cp)
			res.TotalOccupancy += cp.Occupancy
		}
	}
	if len(r.Channels) == 0 && len(r.Groups) == 0 && r.Expanded == nil {
		ks.channels.Range(func(ch *channel) bool {
			add(ch)
			return true
		})
	} else {
		targets, _ := ks.targets(r.Channels, r.Groups, r.Expanded, false)
		targets = slices.Clone(targets)
		slices.Sort(targets)
		for _, name := range slices.Compact(targets) {
			if ch := ks.channels.Get(name); ch != nil {
				add(ch)
			}
		}
	}
	slices.SortFunc(res.Channels, func(a, b ChannelPresence) int { return cmp.Compare(a.Channel, b.Channel) })
	res.TotalChannels = len(res.Channels)
	return res, nil
}

// presence reads one channel for HereNow; false when it has no members.
func (e *Engine) presence(ch *channel, r HereNowRequest) (ChannelPresence, bool) {
	if !r.UUIDs && !r.State && !r.TimeLeft {
		n := int(ch.occupancy.Load())
		return ChannelPresence{Channel: ch.name, Occupancy: n}, n > 0
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	n := ch.size()
	if n == 0 {
		return ChannelPresence{}, false
	}
	cp := ChannelPresence{Channel: ch.name, Occupancy: n, Members: []Member{}}
	if r.Offset < n {
		page := ch.page(r.Offset, r.Limit)
		cp.Members = make([]Member, len(page))
		var now int64
		if r.TimeLeft {
			now = e.wheel.Now()
		}
		for i, m := range page {
			cp.Members[i].UUID = m.c.id()
			if r.State {
				cp.Members[i].State = ch.state[m]
			}
			if r.TimeLeft {
				// A listed member is live: removal swaps its deadline
				// under ch.mu, which is held.
				cp.Members[i].TimeLeft = time.Duration(max(m.deadline.Load()-now, 0))
			}
		}
	}
	return cp, true
}

// Occupancy returns the number of uuids present on channel, in O(1) and
// without a lock.
func (e *Engine) Occupancy(subKey, channel string) (int, error) {
	if e.closed.Load() {
		return 0, ErrClosed
	}
	if err := ValidateSubKey(subKey); err != nil {
		return 0, err
	}
	if err := ValidateChannel(channel); err != nil {
		return 0, err
	}
	if ks := e.keyspace(subKey, false); ks != nil {
		if ch := ks.channels.Get(channel); ch != nil {
			return int(ch.occupancy.Load()), nil
		}
	}
	return 0, nil
}

// WhereNow returns the channels uuid is present on, sorted; empty (not nil)
// when none.
func (e *Engine) WhereNow(subKey, uuid string) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := ValidateSubKey(subKey); err != nil {
		return nil, err
	}
	if err := ValidateUUID(uuid); err != nil {
		return nil, err
	}
	out := []string{}
	if ks := e.keyspace(subKey, false); ks != nil {
		if c := ks.clients.Get(uuid); c != nil {
			c.each(func(m *member) {
				if m.deadline.Load() != removed {
					out = append(out, m.ch.name)
				}
			})
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
