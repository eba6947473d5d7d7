package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

// A page of a channel of a million members costs what a page of a channel
// of a thousand does: the same allocations, the same size, one page of 50.
// (The work is a page, not the channel: engine.HereNow copies Limit
// members out of the channel's array, which has no holes here: nobody left.)
func TestMillionMemberChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("joins a million members")
	}
	e := newEngine(t)
	c := newConsole(t, e, Config{})
	join := func(channel string, from, to int) {
		for i := from; i < to; i++ {
			_, err := e.Heartbeat(ctx(), engine.HeartbeatRequest{SubKey: sk, UUID: fmt.Sprintf("u%07d", i), Channels: []string{channel}, Timeout: time.Hour})
			require.NoError(t, err)
		}
	}
	join("small", 0, 1000)
	join("big", 0, 1_000_000)

	page := func(channel string) (allocs float64, size int) {
		r := httptest.NewRequest(http.MethodGet, "/console/api/members?sub_key=demo&channel="+channel+"&offset=500&limit=50", nil)
		r.SetBasicAuth("", testToken)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		allocs = testing.AllocsPerRun(100, func() { c.ServeHTTP(httptest.NewRecorder(), r) })
		return allocs, w.Body.Len()
	}
	smallAllocs, smallSize := page("small")
	bigAllocs, bigSize := page("big")
	t.Logf("a page of 50 members: %v allocations and %d bytes at 1k members, %v and %d at 1M", smallAllocs, smallSize, bigAllocs, bigSize)
	assert.InDelta(t, smallAllocs, bigAllocs, allocSlack(smallAllocs), "allocations do not grow with the channel")
	assert.LessOrEqual(t, bigSize, smallSize+len("1000000")-len("1000"), "nor does the answer")
	assert.Less(t, bigSize, 8<<10)
	assert.Less(t, bigAllocs, 150.0)

	got := getJSON[membersJSON](t, c, "/console/api/members?sub_key=demo&channel=big&offset=999990&limit=50")
	assert.Equal(t, 1_000_000, got.Occupancy)
	assert.Len(t, got.Members, 10, "the last page")

	// The channels of the sub key, and its totals, in one small answer.
	chans := getJSON[channelsJSON](t, c, "/console/api/channels?sub_key=demo")
	assert.Equal(t, []channelJSON{{"big", 1_000_000}, {"small", 1000}}, chans.Channels)
	subKeys := getJSON[subKeysJSON](t, c, "/console/api/subkeys")
	assert.Equal(t, 1_001_000, subKeys.SubKeys[0].Members)
}

// A page of the busiest channels out of many costs the page: allocations
// do not grow with the channels, nor does the answer.
func TestManyChannels(t *testing.T) {
	e := newEngine(t)
	c := newConsole(t, e, Config{})
	join := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := e.Heartbeat(ctx(), engine.HeartbeatRequest{SubKey: sk, UUID: fmt.Sprintf("u%06d", i), Channels: []string{fmt.Sprintf("ch%06d", i)}, Timeout: time.Hour})
			require.NoError(t, err)
		}
	}
	page := func() (float64, int) {
		r := httptest.NewRequest(http.MethodGet, "/console/api/channels?sub_key=demo&limit=50", nil)
		r.SetBasicAuth("", testToken)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code)
		return testing.AllocsPerRun(20, func() { c.ServeHTTP(httptest.NewRecorder(), r) }), w.Body.Len()
	}
	join(0, 1000)
	fewAllocs, fewSize := page()
	join(1000, 50_000)
	manyAllocs, manySize := page()
	t.Logf("a page of 50 channels: %v allocations and %d bytes of 1k channels, %v and %d of 50k", fewAllocs, fewSize, manyAllocs, manySize)
	assert.InDelta(t, fewAllocs, manyAllocs, allocSlack(fewAllocs))
	assert.LessOrEqual(t, manySize, fewSize+10)
}

// allocSlack is how far two allocation counts of the same work may differ:
// not at all, but under the race detector, whose sync.Pool drops items at
// random, by half. Work that grew with the keyspace would differ by
// thousands.
func allocSlack(n float64) float64 {
	if raceEnabled {
		return n / 2
	}
	return 0
}
