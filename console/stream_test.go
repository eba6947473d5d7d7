package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// settle lets the bubble's clock run d, then waits for every goroutine of
// the bubble to block.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// A page's stream: what it starts with, a join pushed to it with the table
// re-read, the countdown, the timeout, and the charts' samples.
func TestStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := engine.New(engine.Config{MinTimeout: time.Second, Tick: 100 * time.Millisecond})
		require.NoError(t, err)
		defer e.Close()
		beat(t, e, "alice", "lobby", time.Hour, `{"mood":"happy"}`)
		beat(t, e, "bob", "kitchen", time.Hour, "")
		c, err := New(e, Config{Token: testToken})
		require.NoError(t, err)
		defer c.Close()

		rec, closeStream := openStream(c, "/console/api/stream?sub_key=demo&channel=lobby")
		defer closeStream()
		synctest.Wait()
		require.Equal(t, http.StatusOK, rec.code)
		assert.Equal(t, "text/event-stream; charset=utf-8", rec.header.Get("Content-Type"))
		assert.Equal(t, "no-store", rec.header.Get("Cache-Control"))

		ms := rec.messages(t)
		require.GreaterOrEqual(t, len(ms), 5, "%v", ms)
		assert.Equal(t, []string{"hello", "series", "sample", "channels", "members"}, names(ms[:5]))
		var hello helloJSON
		ms[0].decode(t, &hello)
		assert.Equal(t, helloJSON{NowMS: time.Now().UnixMilli(), SubKey: sk, TimeLeft: true, UUIDs: true, SampleMS: 1000, HistoryMS: 600_000}, hello)
		var chans channelsJSON
		ms[3].decode(t, &chans)
		assert.Equal(t, []channelJSON{{"kitchen", 1}, {"lobby", 1}}, chans.Channels)

		// dave joins lobby for 5 s: the join comes at the next tick, and
		// the members and channels are read again with it (the last read
		// was more than refreshMin ago).
		beat(t, e, "dave", "lobby", 5*time.Second, "")
		settle(streamTick)
		ms = rec.messages(t)
		assert.Equal(t, []string{"events", "channels", "members"}, without(names(ms), "sample"))
		var got eventsJSON
		ms[0].decode(t, &got)
		require.Len(t, got.Events, 1)
		join := got.Events[0]
		assert.Equal(t, events.Join, join.Action)
		assert.Equal(t, "dave", join.UUID)
		assert.Equal(t, "lobby", join.Channel)
		assert.Equal(t, 2, join.Occupancy)
		assert.Len(t, join.TT, 17)
		assert.Equal(t, time.Now().UnixMilli()-streamTick.Milliseconds(), join.TMS)
		byEvent(ms, "channels")[0].decode(t, &chans)
		assert.Equal(t, []channelJSON{{"lobby", 2}, {"kitchen", 1}}, chans.Channels)
		members := lastMembers(t, ms)
		assert.Equal(t, int64(5000-streamTick.Milliseconds()), *memberNamed(t, members, "dave").TimeLeftMS)

		// Without events, the page is read again every refreshMax, and
		// channels are sent only when they changed.
		settle(refreshMax)
		ms = rec.messages(t)
		assert.Empty(t, byEvent(ms, "channels"))
		assert.Len(t, byEvent(ms, "members"), 1)

		// A sample a second, with the join counted.
		settle(time.Second)
		ms = rec.messages(t)
		samples := byEvent(ms, "sample")
		require.NotEmpty(t, samples)
		var sample sampleJSON
		samples[len(samples)-1].decode(t, &sample)
		require.NotNil(t, sample.Point)
		assert.Equal(t, 3, sample.Point.Members)
		assert.Equal(t, sk, sample.SubKey)
		assert.Equal(t, 1, sample.Total)

		// dave times out.
		settle(2 * time.Second)
		ms = rec.messages(t)
		var timedOut bool
		for _, m := range byEvent(ms, "events") {
			var got eventsJSON
			m.decode(t, &got)
			for _, ev := range got.Events {
				timedOut = timedOut || (ev.Action == events.Timeout && ev.UUID == "dave")
			}
		}
		assert.True(t, timedOut, "%v", ms)
		members = lastMembers(t, ms)
		assert.Equal(t, 1, members.Occupancy)

		// The series the next page starts with holds the samples so far,
		// and its tail resumes after the timetoken it names.
		rec2, close2 := openStream(c, "/console/api/stream?sub_key=demo&since="+join.TT)
		synctest.Wait()
		ms = rec2.messages(t)
		var series seriesJSON
		byEvent(ms, "series")[0].decode(t, &series)
		assert.GreaterOrEqual(t, len(series.Points), 4)
		byEvent(ms, "events")[0].decode(t, &got)
		assert.Equal(t, []events.Action{events.Timeout}, actions(got.Events), "the join was before since")
		close2()

		// Close ends the stream with a bye.
		require.NoError(t, c.Close())
		ms = rec.messages(t)
		assert.Equal(t, "bye", ms[len(ms)-1].event)
	})
}

// The hub watches only while pages are open, and Linger after.
func TestHubLingers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := engine.New(engine.Config{})
		require.NoError(t, err)
		defer e.Close()
		c, err := New(e, Config{Token: testToken, Linger: time.Minute})
		require.NoError(t, err)
		defer c.Close()
		running := func() bool {
			c.hub.mu.Lock()
			defer c.hub.mu.Unlock()
			return c.hub.run != nil
		}
		assert.False(t, running(), "nothing before a page opens")
		_, closeStream := openStream(c, "/console/api/stream?sub_key=demo")
		synctest.Wait()
		assert.True(t, running())
		closeStream()
		settle(59 * time.Second)
		assert.True(t, running(), "lingers")
		_, closeStream = openStream(c, "/console/api/stream?sub_key=demo")
		settle(2 * time.Second)
		closeStream()
		settle(59 * time.Second)
		assert.True(t, running(), "a new page restarted the linger")
		settle(2 * time.Second)
		assert.False(t, running(), "stopped a minute after the last page")
	})
}

func TestStreamLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := engine.New(engine.Config{})
		require.NoError(t, err)
		defer e.Close()
		c, err := New(e, Config{Token: testToken, MaxStreams: 2})
		require.NoError(t, err)
		defer c.Close()
		_, close1 := openStream(c, "/console/api/stream?sub_key=demo")
		defer close1()
		_, close2 := openStream(c, "/console/api/stream?sub_key=demo")
		defer close2()
		synctest.Wait()
		w := get(c, "/console/api/stream?sub_key=demo", true)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Contains(t, w.Body.String(), "at most 2")
		assert.Equal(t, "5", w.Header().Get("Retry-After"))
	})
}

// Too many events for a page: they are counted, not queued without bound.
func TestStreamSkipsPastMaxPending(t *testing.T) {
	s := &stream{subKey: sk}
	for range maxPending + 7 {
		s.push(tailEvent{})
	}
	evs, skipped, dirty, _ := s.take()
	assert.Len(t, evs, maxPending)
	assert.Equal(t, 7, skipped)
	assert.True(t, dirty)
}

// No request to the console changes presence: every endpoint, the stream
// included, through a service that records its writes, with and without
// Inspector.
func TestReadOnly(t *testing.T) {
	for _, inspector := range []bool{true, false} {
		t.Run(map[bool]string{true: "inspector", false: "presence only"}[inspector], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, err := engine.New(engine.Config{})
				require.NoError(t, err)
				defer e.Close()
				seed(t, e)
				require.NoError(t, e.AddChannelsToGroup(sk, "g", "lobby"))
				ro := &readOnly{Presence: e}
				var c *Console
				if inspector {
					c, err = New(inspecting{ro, e}, Config{Token: testToken, SubKeys: []string{sk}})
				} else {
					c, err = New(ro, Config{Token: testToken, SubKeys: []string{sk}})
				}
				require.NoError(t, err)
				defer c.Close()
				_, closeStream := openStream(c, "/console/api/stream?sub_key=demo&channel=lobby&filter=o")
				for _, p := range []string{"/console/", "/console/console.js", "/console/api/subkeys", "/console/api/channels?sub_key=demo",
					"/console/api/members?sub_key=demo&channel=lobby", "/console/api/uuid?sub_key=demo&uuid=bob",
					"/console/api/channels?sub_key=demo&filter=" + strings.Repeat("x", 92)} {
					assert.Equal(t, http.StatusOK, get(c, p, true).Code, p)
				}
				settle(5 * time.Second)
				closeStream()
				assert.Empty(t, ro.written())
			})
		})
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func names(ms []message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.event
	}
	return out
}

func actions(evs []tailEvent) []events.Action {
	out := make([]events.Action, len(evs))
	for i, ev := range evs {
		out[i] = ev.Action
	}
	return out
}

func lastMembers(t *testing.T, ms []message) membersJSON {
	t.Helper()
	all := byEvent(ms, "members")
	require.NotEmpty(t, all, "%v", names(ms))
	var m membersJSON
	all[len(all)-1].decode(t, &m)
	return m
}

func memberNamed(t *testing.T, m membersJSON, uuid string) memberJSON {
	t.Helper()
	for _, x := range m.Members {
		if x.UUID == uuid {
			return x
		}
	}
	t.Fatalf("%s is not among %v", uuid, m.Members)
	return memberJSON{}
}

var _ = context.Background
