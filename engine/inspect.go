package engine

import (
	"cmp"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Reading a whole sub key at a glance: its totals, and its channels by
// occupancy. These calls serve dashboards (presenced's console) and stay
// cheap at millions of members: they read each channel's occupancy, one
// atomic load, without a lock and without allocating per channel, and keep
// only the page they return.

// Bounds of TopChannelsRequest.Limit.
const (
	DefaultTopChannels = 100
	MaxTopChannels     = 1000
)

// SubKeyStats is what one sub key holds.
type SubKeyStats struct {
	SubKey string
	// Channels is the number of channels with at least one member.
	Channels int
	// Members is the number of (uuid, channel) memberships: the channels'
	// occupancies summed.
	Members int
	// UUIDs is the number of distinct uuids present on some channel.
	UUIDs int
}

// SubKeys returns the totals of every sub key the engine holds, sorted by
// sub key. A sub key that holds only channel groups is listed with zeros.
//
// It reads the occupancy of every channel of every sub key, without a lock:
// the cost grows with the channels, not with their members (about 50 ms for
// a million channels on this project's machine, a cache miss or so per
// channel: BenchmarkTopChannels), and it allocates only the result.
// While calls are in flight the totals may be off by those calls; at rest
// they are exact.
func (e *Engine) SubKeys() ([]SubKeyStats, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	out := make([]SubKeyStats, 0, e.keyspaces.Len())
	e.keyspaces.Range(func(ks *keyspace) bool {
		s := SubKeyStats{SubKey: ks.name, UUIDs: ks.clients.Len()}
		ks.channels.Range(func(ch *channel) bool {
			if n := int(ch.occupancy.Load()); n > 0 {
				s.Channels++
				s.Members += n
			}
			return true
		})
		out = append(out, s)
		return true
	})
	slices.SortFunc(out, func(a, b SubKeyStats) int { return cmp.Compare(a.SubKey, b.SubKey) })
	return out, nil
}

// TopChannelsRequest asks for the busiest channels of a sub key, a page at a
// time.
type TopChannelsRequest struct {
	SubKey string
	// Match, if not empty, keeps only the channels whose name contains it,
	// ignoring case (see ContainsFold).
	Match string
	// Limit is the most channels returned: 1 to MaxTopChannels; zero means
	// DefaultTopChannels.
	Limit int
	// After, if not nil, continues a listing: only channels that come after
	// it in the order of TopChannelsResult.Channels are returned. Pass the
	// last channel of the previous page. A channel whose occupancy changes
	// between two pages may be listed on both, or on neither.
	After *ChannelCount
}

// ChannelCount is a channel and its occupancy.
type ChannelCount struct {
	Channel   string
	Occupancy int
}

// TopChannelsResult is the answer to TopChannels.
type TopChannelsResult struct {
	// Channels holds at most Limit channels with members, by occupancy,
	// largest first, then by name.
	Channels []ChannelCount
	// Matched is the number of channels with members that Match keeps, on
	// every page alike; Members is their occupancies summed.
	Matched, Members int
}

// TopChannels returns a page of the channels of r.SubKey that have members,
// busiest first. It reads every channel's occupancy, without a lock, and
// keeps only the Limit best in a heap: O(channels × log Limit) time and
// O(Limit) memory, however many channels and members there are. A million
// channels take 0.1 to 0.3 s on this project's machine (BenchmarkTopChannels:
// channels of equal occupancy, whose names must be compared, are the worst
// case), a million members on one channel next to nothing.
//
// It returns ErrInvalidSubKey for a bad sub key, ErrInvalidPaging for a Limit
// out of bounds or a negative After.Occupancy, and ErrInvalidChannel for an
// After.Channel that is not a channel name.
func (e *Engine) TopChannels(r TopChannelsRequest) (TopChannelsResult, error) {
	if e.closed.Load() {
		return TopChannelsResult{}, ErrClosed
	}
	if err := CheckTopChannels(r); err != nil {
		return TopChannelsResult{}, err
	}
	var res TopChannelsResult
	ks := e.keyspace(r.SubKey, false)
	if ks == nil {
		return res, nil
	}
	top := TopChannelsHeap{Limit: r.Limit, After: r.After}
	ks.channels.Range(func(ch *channel) bool {
		n := int(ch.occupancy.Load())
		if n == 0 || (r.Match != "" && !ContainsFold(ch.name, r.Match)) {
			return true
		}
		res.Matched++
		res.Members += n
		top.Offer(ChannelCount{Channel: ch.name, Occupancy: n})
		return true
	})
	res.Channels = top.Sorted()
	return res, nil
}

// CheckTopChannels checks r's fields as TopChannels does, and fills in the
// default Limit; other implementations of TopChannels call it so that their
// errors are the engine's.
func CheckTopChannels(r TopChannelsRequest) error {
	if err := ValidateSubKey(r.SubKey); err != nil {
		return err
	}
	if r.Limit < 0 || r.Limit > MaxTopChannels {
		return fmt.Errorf("%w: limit %d is not within 0 to %d", ErrInvalidPaging, r.Limit, MaxTopChannels)
	}
	if r.After != nil {
		if r.After.Occupancy < 0 {
			return fmt.Errorf("%w: after occupancy %d is negative", ErrInvalidPaging, r.After.Occupancy)
		}
		if err := ValidateChannel(r.After.Channel); err != nil {
			return err
		}
	}
	return nil
}

// TopChannelsHeap keeps the best Limit channels offered to it, in the order
// of TopChannelsResult.Channels, skipping those not after After: the one
// ranking of TopChannels, for any implementation of it. The zero value keeps
// DefaultTopChannels. It is not safe for concurrent use.
type TopChannelsHeap struct {
	Limit int           // zero means DefaultTopChannels
	After *ChannelCount // nil: from the top
	h     []ChannelCount
}

// Before reports whether c comes before d in the order of TopChannels:
// larger occupancy first, then name.
func (c ChannelCount) Before(d ChannelCount) bool {
	if c.Occupancy != d.Occupancy {
		return c.Occupancy > d.Occupancy
	}
	return c.Channel < d.Channel
}

// Offer considers c for the page. It does not allocate once the heap holds
// Limit channels.
func (t *TopChannelsHeap) Offer(c ChannelCount) {
	if t.After != nil && !t.After.Before(c) {
		return
	}
	limit := t.Limit
	if limit == 0 {
		limit = DefaultTopChannels
	}
	// h is a heap whose root is the channel that comes last: the first to go.
	if len(t.h) < limit {
		t.h = append(t.h, c)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.h[p].Before(t.h[i]) {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if !c.Before(t.h[0]) {
		return
	}
	t.h[0] = c
	for i := 0; ; {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < len(t.h) && t.h[worst].Before(t.h[l]) {
			worst = l
		}
		if r < len(t.h) && t.h[worst].Before(t.h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		t.h[i], t.h[worst] = t.h[worst], t.h[i]
		i = worst
	}
}

// Sorted returns the channels kept, in order, and empties the heap.
func (t *TopChannelsHeap) Sorted() []ChannelCount {
	out := t.h
	t.h = nil
	slices.SortFunc(out, func(a, b ChannelCount) int {
		if a.Before(b) {
			return -1
		}
		if b.Before(a) {
			return 1
		}
		return 0
	})
	if out == nil {
		out = []ChannelCount{}
	}
	return out
}

// ContainsFold reports whether substr is within s, ignoring case: under
// Unicode simple case folding, as strings.EqualFold compares ("Lobby"
// contains "BB"; "K", the Kelvin sign, matches "k"). It does not allocate.
// The empty substr is within every s.
func ContainsFold(s, substr string) bool {
	if substr == "" {
		return true
	}
	// An ASCII first byte of substr can only match at a byte equal to it
	// (either case, for a letter) or at a non-ASCII rune (the Kelvin sign
	// folds to k, the long s to s): other places are skipped at a glance.
	first, letter := substr[0], false
	if first < utf8.RuneSelf {
		first = lowerASCII(first)
		letter = 'a' <= first && first <= 'z'
	}
	for i := 0; i < len(s); {
		if b := s[i]; first < utf8.RuneSelf && b < utf8.RuneSelf && b != first && (!letter || lowerASCII(b) != first) {
			i++
			continue
		}
		if hasPrefixFold(s[i:], substr) {
			return true
		}
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
		}
	}
	return false
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// hasPrefixFold reports whether s starts with prefix under simple folding,
// rune by rune.
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		var sr, pr rune
		if s[0] < utf8.RuneSelf && prefix[0] < utf8.RuneSelf {
			sr, pr = rune(s[0]), rune(prefix[0])
			s, prefix = s[1:], prefix[1:]
			if sr == pr {
				continue
			}
			if 'A' <= sr && sr <= 'Z' {
				sr += 'a' - 'A'
			}
			if 'A' <= pr && pr <= 'Z' {
				pr += 'a' - 'A'
			}
			if sr == pr {
				continue
			}
			// Two ASCII letters that differ: no fold of one is the other
			// (the Kelvin sign and the long s are not ASCII).
			return false
		}
		var n int
		sr, n = utf8.DecodeRuneInString(s)
		s = s[n:]
		pr, n = utf8.DecodeRuneInString(prefix)
		prefix = prefix[n:]
		if sr != pr && !foldEqual(sr, pr) {
			return false
		}
	}
	return true
}

// foldEqual reports whether a and b are equal under simple folding.
func foldEqual(a, b rune) bool {
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
