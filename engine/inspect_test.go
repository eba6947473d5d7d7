package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubKeys(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		got, err := e.SubKeys()
		require.NoError(t, err)
		assert.Empty(t, got)

		mustBeat(t, e, hb("alice", "a", "b"))
		mustBeat(t, e, hb("bob", "a"))
		mustBeat(t, e, HeartbeatRequest{SubKey: "other", UUID: "x", Channels: []string{"a"}})
		require.NoError(t, e.AddChannelsToGroup("groups-only", "g", "a"))
		_, err = e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "alice", Channels: []string{"b"}})
		require.NoError(t, err)

		got, err = e.SubKeys()
		require.NoError(t, err)
		assert.Equal(t, []SubKeyStats{
			{SubKey: "groups-only"},
			{SubKey: "other", Channels: 1, Members: 1, UUIDs: 1},
			{SubKey: sk, Channels: 1, Members: 2, UUIDs: 2},
		}, got)

		require.NoError(t, e.Close())
		_, err = e.SubKeys()
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestTopChannels(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		// Lobby 3, Kitchen 2, cellar 2, attic 1, and "ſafe" (long s) 1.
		for i, chans := range [][]string{
			{"Lobby", "Kitchen", "cellar", "attic"},
			{"Lobby", "Kitchen", "cellar"},
			{"Lobby", "ſafe"},
		} {
			mustBeat(t, e, hb(uuidN(i), chans...))
		}
		top := func(r TopChannelsRequest) TopChannelsResult {
			t.Helper()
			r.SubKey = sk
			res, err := e.TopChannels(r)
			require.NoError(t, err)
			return res
		}
		all := []ChannelCount{{"Lobby", 3}, {"Kitchen", 2}, {"cellar", 2}, {"attic", 1}, {"ſafe", 1}}
		assert.Equal(t, TopChannelsResult{Channels: all, Matched: 5, Members: 9}, top(TopChannelsRequest{}))

		// Pages of two, each continuing after the last of the one before,
		// cover every channel once, in order; the totals are the same on
		// every page.
		var paged []ChannelCount
		var after *ChannelCount
		for range 4 {
			res := top(TopChannelsRequest{Limit: 2, After: after})
			assert.Equal(t, 5, res.Matched)
			assert.Equal(t, 9, res.Members)
			paged = append(paged, res.Channels...)
			if len(res.Channels) == 0 {
				break
			}
			after = &res.Channels[len(res.Channels)-1]
		}
		assert.Equal(t, all, paged)

		// Match ignores case, under Unicode folding.
		assert.Equal(t, TopChannelsResult{Channels: []ChannelCount{{"Kitchen", 2}, {"attic", 1}}, Matched: 2, Members: 3},
			top(TopChannelsRequest{Match: "T"}))
		assert.Equal(t, TopChannelsResult{Channels: []ChannelCount{{"ſafe", 1}}, Matched: 1, Members: 1},
			top(TopChannelsRequest{Match: "SAFE"}))
		assert.Equal(t, TopChannelsResult{Channels: []ChannelCount{}}, top(TopChannelsRequest{Match: "nothing"}))

		// A sub key the engine does not hold.
		res, err := e.TopChannels(TopChannelsRequest{SubKey: "nobody"})
		require.NoError(t, err)
		assert.Empty(t, res.Channels)
	})
}

func TestTopChannelsBadRequest(t *testing.T) {
	e := newEngine(t, Config{})
	for _, tc := range []struct {
		name string
		r    TopChannelsRequest
		want error
		msg  string
	}{
		{"sub key", TopChannelsRequest{SubKey: ""}, ErrInvalidSubKey, ""},
		{"negative limit", TopChannelsRequest{SubKey: sk, Limit: -1}, ErrInvalidPaging, "limit -1 is not within 0 to 1000"},
		{"limit too large", TopChannelsRequest{SubKey: sk, Limit: MaxTopChannels + 1}, ErrInvalidPaging, "limit 1001"},
		{"negative after", TopChannelsRequest{SubKey: sk, After: &ChannelCount{"a", -1}}, ErrInvalidPaging, "after occupancy -1"},
		{"bad after channel", TopChannelsRequest{SubKey: sk, After: &ChannelCount{"a b", 1}}, ErrInvalidChannel, `"a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.TopChannels(tc.r)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// The page's memory is the page: offering channels to a full heap does not
// allocate, and TopChannels over many channels allocates only its result.
func TestTopChannelsAllocations(t *testing.T) {
	h := TopChannelsHeap{Limit: 10}
	for i := range 10 {
		h.Offer(ChannelCount{Channel: "c", Occupancy: i})
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		h.Offer(ChannelCount{Channel: "d", Occupancy: i})
	})
	assert.Zero(t, allocs)

	e := newEngine(t, Config{})
	perCall := func() float64 {
		return testing.AllocsPerRun(10, func() {
			if _, err := e.TopChannels(TopChannelsRequest{SubKey: sk, Limit: 10}); err != nil {
				t.Fatal(err)
			}
		})
	}
	beat := func(from, to int) {
		for c := from; c < to; c++ {
			mustBeat(t, e, HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{fmt.Sprintf("ch%d", c)}, Timeout: time.Hour})
		}
	}
	beat(0, 20)
	few := perCall()
	beat(20, 5000)
	assert.Equal(t, few, perCall(), "allocations do not grow with the channels")
	assert.LessOrEqual(t, few, 6.0)
}

func TestHereNowTimeLeft(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, HeartbeatRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, Timeout: time.Minute})
		mustBeat(t, e, HeartbeatRequest{SubKey: sk, UUID: "bob", Channels: []string{"a"}, Timeout: 2 * time.Minute})
		time.Sleep(20 * time.Second)
		left := func(r HereNowRequest) map[string]time.Duration {
			t.Helper()
			r.SubKey, r.Channels = sk, []string{"a"}
			res, err := e.HereNow(r)
			require.NoError(t, err)
			require.Len(t, res.Channels, 1)
			out := map[string]time.Duration{}
			for _, m := range res.Channels[0].Members {
				out[m.UUID] = m.TimeLeft
			}
			return out
		}
		// Time runs on the bubble's clock, exactly.
		assert.Equal(t, map[string]time.Duration{"alice": 40 * time.Second, "bob": 100 * time.Second}, left(HereNowRequest{TimeLeft: true}))
		assert.Equal(t, map[string]time.Duration{"alice": 0, "bob": 0}, left(HereNowRequest{UUIDs: true}), "only when asked")

		mustBeat(t, e, HeartbeatRequest{SubKey: sk, UUID: "alice", Channels: []string{"a"}, Timeout: time.Minute})
		assert.Equal(t, time.Minute, left(HereNowRequest{TimeLeft: true})["alice"], "a refresh moves it")
	})
}

func TestContainsFold(t *testing.T) {
	for _, tc := range []struct {
		s, sub string
		want   bool
	}{
		{"Lobby", "", true},
		{"", "", true},
		{"", "a", false},
		{"Lobby", "lob", true},
		{"Lobby", "BBY", true},
		{"Lobby", "bbyy", false},
		{"KELVIN", "\u212a", true}, // the Kelvin sign folds to k
		{"\u212aelvin", "KEL", true},
		{"straße", "SSE", false}, // simple folding: ß is not ss
		{"ǅemal", "ǆ", true},
		{"a\xffb", "\xffB", true},
		{"mañana", "ÑA", true},
		{"abc", "abcd", false},
	} {
		assert.Equal(t, tc.want, ContainsFold(tc.s, tc.sub), "%q in %q", tc.sub, tc.s)
		assert.Equal(t, tc.want, containsFoldReference(tc.s, tc.sub), "reference: %q in %q", tc.sub, tc.s)
	}
}

// containsFoldReference is ContainsFold written plainly: some run of whole
// runes of s equals substr under strings.EqualFold.
func containsFoldReference(s, substr string) bool {
	if substr == "" {
		return true
	}
	starts := []int{}
	for i := range s {
		starts = append(starts, i)
	}
	ends := append(slices.Clone(starts[min(1, len(starts)):]), len(s))
	for _, i := range starts {
		for _, j := range ends {
			if j > i && strings.EqualFold(s[i:j], substr) {
				return true
			}
		}
	}
	return false
}

func FuzzContainsFold(f *testing.F) {
	for _, seed := range [][2]string{{"Lobby", "BB"}, {"\u212aelvin", "k"}, {"ſafe", "SA"}, {"a\xffb", "\xff"}, {"ǅ", "ǆ"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, sub string) {
		if utf8.RuneCountInString(s) > 64 || utf8.RuneCountInString(sub) > 16 {
			return
		}
		if got, want := ContainsFold(s, sub), containsFoldReference(s, sub); got != want {
			t.Fatalf("ContainsFold(%q, %q) = %v, want %v", s, sub, got, want)
		}
	})
}
