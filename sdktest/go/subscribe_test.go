package sdktest

// The Go SDK's subscribe long-poll against httpapi: presence events (join,
// leave, timeout, state-change, interval) delivered to a client subscribed
// WithPresence(true).
//
//	Subscribe().Channels().ChannelGroups().WithPresence(true)
//	    GET /v2/subscribe/{sk}/{chs and chs-pnpres}/0?uuid=&heartbeat=&state=&channel-group=&tt=&tr=
//	    (a handshake with tt=0, then long-polls with the cursor of each answer)
//	Unsubscribe()   GET .../channel/{chs}/leave
//
// The SDK parses t.t, p.t and a as strings. It reads "occupancy" as an int
// out of an interface{} holding a float64, so PNPresence.Occupancy is always
// 0, and it leaves Join, Leave and Timeout of interval events empty: neither
// is checked here.
//
// Each test runs against each deployment (nodes_test.go): one engine, and two
// cluster nodes of one presence with the watcher, A, subscribed through node
// 2 and every other client on node 1.

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pubnub "github.com/pubnub/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventWait bounds each wait for presence events; timeoutWait the wait for a
// timeout, which comes presenceTimeout (4 s) after the last heartbeat.
const (
	eventWait   = 10 * time.Second
	timeoutWait = 20 * time.Second
)

// watcher is an SDK client whose presence events are collected.
type watcher struct {
	pn        *pubnub.PubNub
	connected chan struct{}

	mu     sync.Mutex
	events []*pubnub.PNPresence
	added  chan struct{} // signalled on each event
}

// newWatcher returns a client made by newClient whose listener collects
// presence events and reports the first connection. Its presence timeout is
// 20 s unless configure sets another: with the SDK's default, its subscribe
// calls carry no heartbeat parameter and no heartbeat loop runs, so a client
// waiting in a long-poll with nothing to receive would time out after the
// server's default timeout, 6 s in this suite, and change the occupancy the
// tests count on.
func newWatcher(t *testing.T, host, uuid string, configure func(*pubnub.Config)) *watcher {
	t.Helper()
	w := &watcher{pn: newClient(t, host, uuid, both(presenceTimeout20, configure)), connected: make(chan struct{}), added: make(chan struct{}, 1)}
	l := pubnub.NewListener()
	var once sync.Once
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case st := <-l.Status:
				if st.Category == pubnub.PNConnectedCategory {
					once.Do(func() { close(w.connected) })
				}
			case p := <-l.Presence:
				w.mu.Lock()
				w.events = append(w.events, p)
				w.mu.Unlock()
				select {
				case w.added <- struct{}{}:
				default:
				}
			case <-l.Message:
			case <-l.Signal:
			case <-done:
				return
			}
		}
	}()
	w.pn.AddListener(l)
	// Cleanups run last-in first-out: this one runs before newClient's Destroy.
	t.Cleanup(func() {
		w.pn.RemoveListener(l)
		close(done)
		<-stopped
	})
	return w
}

func (w *watcher) waitConnected(t *testing.T) {
	t.Helper()
	select {
	case <-w.connected:
	case <-time.After(eventWait):
		t.Fatal("the subscription did not connect")
	}
}

// until waits up to d for pred to hold over the events so far, sorted by
// timetoken (the SDK hands each event to the listener on a goroutine of its
// own, so they may arrive out of order), and returns them.
func (w *watcher) until(t *testing.T, what string, d time.Duration, pred func([]*pubnub.PNPresence) bool) []*pubnub.PNPresence {
	t.Helper()
	deadline := time.After(d)
	for {
		w.mu.Lock()
		evs := slices.Clone(w.events)
		w.mu.Unlock()
		slices.SortStableFunc(evs, func(a, b *pubnub.PNPresence) int { return cmp.Compare(a.Timetoken, b.Timetoken) })
		if pred(evs) {
			return evs
		}
		select {
		case <-w.added:
		case <-deadline:
			t.Fatalf("no %s within %v; got %s", what, d, describe(evs))
		}
	}
}

// eventsOf returns the events of uuid.
func eventsOf(evs []*pubnub.PNPresence, uuid string) []*pubnub.PNPresence {
	var out []*pubnub.PNPresence
	for _, e := range evs {
		if e.UUID == uuid {
			out = append(out, e)
		}
	}
	return out
}

// count returns the number of events of uuid with the given action.
func count(evs []*pubnub.PNPresence, uuid, action string) int {
	n := 0
	for _, e := range eventsOf(evs, uuid) {
		if e.Event == action {
			n++
		}
	}
	return n
}

func describe(evs []*pubnub.PNPresence) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.Event + ":" + e.UUID + ":" + e.Channel + " ")
	}
	return b.String()
}

// subsequence reports whether want appears in got in order, not necessarily
// contiguously.
func subsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestSubscribePresenceEvents: A watches a channel; B subscribes with state,
// changes its state, unsubscribes, subscribes again (through a second SDK
// client with B's uuid) and goes silent. A
// receives join (with the state), state-change, leave, join and timeout, in
// that order, and Here Now agrees on every server after each step.
func TestSubscribePresenceEvents(t *testing.T) {
	forEachDeployment(t, testSubscribePresenceEvents)
}

func testSubscribePresenceEvents(t *testing.T, d deployment) {
	room := uniq("room")
	a := newWatcher(t, d.watch, uniq("a"), nil)
	a.pn.Subscribe().Channels([]string{room}).WithPresence(true).Execute()
	a.waitConnected(t)

	bid := uniq("b")
	// Here Now is compared for B only: A's own presence rests on its
	// long-polls, each a heartbeat with the server's default timeout.
	hereNowOfB := func(want ...occupant) {
		t.Helper()
		hereNowEverywhere(t, d, room, want, bid)
	}
	// SetPresenceTimeout raises anything under 20 s to 20 s; the fields take
	// 4 s (heartbeats every second), so that B times out within seconds of
	// going silent.
	fourSeconds := func(c *pubnub.Config) {
		c.PresenceTimeout = 4
		c.HeartbeatInterval = 1
	}
	b := newWatcher(t, d.client, bid, fourSeconds)
	b.pn.Subscribe().Channels([]string{room}).State(map[string]any{"mood": "happy"}).Execute()
	b.waitConnected(t)
	a.until(t, "join with state", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "join") == 1 })
	hereNowOfB(occupant{bid, map[string]any{"mood": "happy"}})

	_, _, err := b.pn.SetState().Channels([]string{room}).State(map[string]any{"mood": "busy"}).Execute()
	require.NoError(t, err)
	a.until(t, "state-change", eventWait, func(evs []*pubnub.PNPresence) bool {
		return slices.ContainsFunc(eventsOf(evs, bid), func(e *pubnub.PNPresence) bool {
			return e.Event == "state-change" && e.State != nil && e.State.(map[string]any)["mood"] == "busy"
		})
	})
	hereNowOfB(occupant{bid, map[string]any{"mood": "busy"}})

	b.pn.Unsubscribe().Channels([]string{room}).Execute()
	a.until(t, "leave", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "leave") == 1 })
	hereNowOfB()

	// B subscribes again through a client of its own whose Destroy sends no
	// leave (set before it starts: the SDK reads its Config on goroutines of
	// its own), then goes silent: no leave, no more heartbeats or subscribe
	// calls.
	silent := newWatcher(t, d.client, bid, both(fourSeconds, func(c *pubnub.Config) { c.SuppressLeaveEvents = true }))
	silent.pn.Subscribe().Channels([]string{room}).Execute()
	a.until(t, "second join", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "join") == 2 })
	destroy(silent.pn)
	start := time.Now()
	evs := a.until(t, "timeout", timeoutWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "timeout") == 1 })
	t.Logf("timeout after %v of silence", time.Since(start).Round(100*time.Millisecond))
	hereNowOfB()

	got := eventsOf(evs, bid)
	var seq []string
	for _, e := range got {
		seq = append(seq, e.Event)
		assert.Equal(t, room, e.Channel)
		assert.Equal(t, room+"-pnpres", e.SubscribedChannel)
		assert.Greater(t, e.Timetoken, int64(1e16), "p.t parsed from a string")
		assert.Greater(t, e.Timestamp, int64(1e9))
	}
	assert.True(t, subsequence([]string{"join", "state-change", "leave", "join", "timeout"}, seq), "sequence %v", seq)
	assert.Equal(t, "timeout", seq[len(seq)-1], "sequence %v", seq)
	assert.Equal(t, map[string]any{"mood": "happy"}, got[0].State, "the join carries the state it came with")
	leave := slices.IndexFunc(got, func(e *pubnub.PNPresence) bool { return e.Event == "leave" })
	assert.Equal(t, map[string]any{"mood": "busy"}, got[leave].State, "the leave carries the state the member had")
}

// TestSubscribeIntervalEvents: with announce max 2, A watches a channel while
// B and C subscribe; B's join is announced, C's comes in an interval event.
func TestSubscribeIntervalEvents(t *testing.T) {
	forEachDeployment(t, testSubscribeIntervalEvents)
}

func testSubscribeIntervalEvents(t *testing.T, d deployment) {
	hall := uniq("hall")
	a := newWatcher(t, d.watch, uniq("a"), nil)
	a.pn.Subscribe().Channels([]string{hall}).WithPresence(true).Execute()
	a.waitConnected(t)
	bid, cid := uniq("b"), uniq("c")
	b := newWatcher(t, d.client, bid, nil)
	b.pn.Subscribe().Channels([]string{hall}).Execute()
	b.waitConnected(t)
	a.until(t, "B's join", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "join") == 1 })
	c := newWatcher(t, d.client, cid, nil)
	c.pn.Subscribe().Channels([]string{hall}).Execute()
	c.waitConnected(t)

	evs := a.until(t, "an interval event", eventWait, func(evs []*pubnub.PNPresence) bool {
		return slices.ContainsFunc(evs, func(e *pubnub.PNPresence) bool { return e.Event == "interval" })
	})
	assert.Zero(t, count(evs, cid, "join"), "C is not announced")
	for _, e := range evs {
		if e.Event == "interval" {
			assert.Equal(t, hall, e.Channel)
			assert.Equal(t, hall+"-pnpres", e.SubscribedChannel)
			assert.False(t, e.HereNowRefresh)
			assert.Greater(t, e.Timetoken, int64(1e16))
		}
	}
}

// TestSubscribeGroupEvents: A watches a channel group with presence; B's join
// and leave on one of its channels arrive with the group as the subscription.
func TestSubscribeGroupEvents(t *testing.T) {
	forEachDeployment(t, testSubscribeGroupEvents)
}

func testSubscribeGroupEvents(t *testing.T, d deployment) {
	g, x, y := uniq("group"), uniq("x"), uniq("y")
	a := newWatcher(t, d.watch, uniq("a"), nil)
	_, _, err := a.pn.AddChannelToChannelGroup().Channels([]string{x, y}).ChannelGroup(g).Execute()
	require.NoError(t, err)
	a.pn.Subscribe().ChannelGroups([]string{g}).WithPresence(true).Execute()
	a.waitConnected(t)

	bid := uniq("b")
	b := newWatcher(t, d.client, bid, nil)
	b.pn.Subscribe().Channels([]string{x}).Execute()
	b.waitConnected(t)
	evs := a.until(t, "B's join", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "join") == 1 })
	e := eventsOf(evs, bid)[0]
	assert.Equal(t, x, e.Channel)
	assert.Equal(t, x+"-pnpres", e.ActualChannel)
	assert.Equal(t, g+"-pnpres", e.SubscribedChannel)
	assert.Equal(t, g, e.Subscription)

	b.pn.Unsubscribe().Channels([]string{x}).Execute()
	evs = a.until(t, "B's leave", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "leave") == 1 })
	for _, e := range evs {
		assert.Equal(t, g+"-pnpres", e.SubscribedChannel)
	}
}

// TestSubscribeSigned: on the signed keyset the SDK signs its handshake and
// its long-polls, cursor included, and events flow.
func TestSubscribeSigned(t *testing.T) {
	forEachDeployment(t, testSubscribeSigned)
}

func testSubscribeSigned(t *testing.T, d deployment) {
	room := uniq("signed-room")
	a := newWatcher(t, d.watch, uniq("a"), signed)
	a.pn.Subscribe().Channels([]string{room}).WithPresence(true).Execute()
	a.waitConnected(t)
	bid := uniq("b")
	b := newWatcher(t, d.client, bid, signed)
	b.pn.Subscribe().Channels([]string{room}).Execute()
	b.waitConnected(t)
	a.until(t, "B's join", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "join") == 1 })
	b.pn.Unsubscribe().Channels([]string{room}).Execute()
	a.until(t, "B's leave", eventWait, func(evs []*pubnub.PNPresence) bool { return count(evs, bid, "leave") == 1 })
}
