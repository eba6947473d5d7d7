package feed

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/presenced/presence/events"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rig is a bus and a feed reading it. Events are encoded as
// "<channel>@<timetoken>".
type rig struct {
	t    *testing.T
	bus  *events.Bus
	feed *Feed
}

func encodeTest(dst []byte, ev *events.Event) []byte {
	dst = append(dst, ev.Channel...)
	dst = append(dst, '@')
	return strconv.AppendInt(dst, ev.Timetoken, 10)
}

func newRig(t *testing.T, cfg Config, buffer int) *rig {
	t.Helper()
	bus := events.NewBus(events.BusConfig{})
	if cfg.Encode == nil {
		cfg.Encode = encodeTest
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = time.Minute
	}
	cfg.Subscribe = func() (*events.Subscription, error) {
		return bus.Subscribe(events.Filter{}, events.Options{Buffer: buffer})
	}
	f := New(cfg)
	t.Cleanup(func() {
		f.Close()
		bus.Close()
	})
	return &rig{t: t, bus: bus, feed: f}
}

// publish publishes one join on (sk, ch) and waits until the feed has filed
// it. It returns the event's timetoken.
func (r *rig) publish(sk, ch string) int64 {
	ev := events.Event{Action: events.Join, SubKey: sk, Channel: ch, UUID: "u"}
	r.bus.Publish(&ev)
	synctest.Wait()
	return ev.Timetoken
}

func (r *rig) acquire(sk string) *Key {
	r.t.Helper()
	k, err := r.feed.Acquire(sk)
	require.NoError(r.t, err)
	r.t.Cleanup(k.Release)
	return k
}

func chans(pairs ...string) *Channels {
	var c Channels
	for i := 0; i < len(pairs); i += 2 {
		c.Add(pairs[i], pairs[i+1])
	}
	return &c
}

func bodies(b *Batch) []string {
	var out []string
	for _, d := range b.Events {
		out = append(out, string(d.Body)+"/"+d.Sub)
	}
	return out
}

func TestPollCursor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		k := r.acquire("sk")
		start := k.Head(events.Timetoken(time.Now()))
		tt1 := r.publish("sk", "a")
		r.publish("sk", "b") // not asked for
		tt3 := r.publish("sk", "a")
		r.publish("other", "a") // another sub key, not acquired: not kept

		var b Batch
		require.True(t, k.Poll(start, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Equal(t, []string{
			"a@" + strconv.FormatInt(tt1, 10) + "/a-pnpres",
			"a@" + strconv.FormatInt(tt3, 10) + "/a-pnpres",
		}, bodies(&b))
		assert.Empty(t, b.Stale)
		assert.False(t, b.Capped)
		newest := tt3 + 0
		assert.Equal(t, newest, b.Cursor, "past the newest event of the sub key")

		// From the answer's cursor, nothing more; from between, the rest.
		assert.False(t, k.Poll(b.Cursor, chans("a", "a-pnpres"), 10, nil, &b))
		require.True(t, k.Poll(tt1, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Len(t, b.Events, 1)

		// A cap: the cursor stops at the last event delivered.
		require.True(t, k.Poll(start, chans("a", "a-pnpres", "b", "g-pnpres"), 2, nil, &b))
		assert.True(t, b.Capped)
		assert.Len(t, b.Events, 2)
		require.True(t, k.Poll(b.Cursor, chans("a", "a-pnpres", "b", "g-pnpres"), 2, nil, &b))
		assert.False(t, b.Capped)
		assert.Equal(t, []string{"a@" + strconv.FormatInt(tt3, 10) + "/a-pnpres"}, bodies(&b))

		assert.Equal(t, Stats{Keys: 1, Events: 3, Bytes: int64(k.bytes)}, r.feed.Stats())
	})
}

func TestHeadIsNeverBehindTheNewestEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		k := r.acquire("sk")
		tt := r.publish("sk", "a")
		assert.Equal(t, tt, k.Head(0))
		assert.Equal(t, tt+4, k.Head(tt+5))
	})
}

func TestWaiterWakesOnlyForItsChannels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		k := r.acquire("sk")
		cur := k.Head(events.Timetoken(time.Now()))
		wa, wb := NewWaiter(), NewWaiter()
		var b Batch
		require.False(t, k.Poll(cur, chans("a", "a-pnpres"), 10, wa, &b))
		require.False(t, k.Poll(cur, chans("b", "b-pnpres", "c", "g-pnpres"), 10, wb, &b))
		assert.EqualValues(t, 2, r.feed.Stats().Waiting)

		r.publish("sk", "c")
		assert.Empty(t, wa.Wake())
		assert.Len(t, wb.Wake(), 1)
		r.publish("other", "a")
		assert.Empty(t, wa.Wake())

		<-wb.Wake()
		require.True(t, k.Poll(cur, chans("b", "b-pnpres", "c", "g-pnpres"), 10, wb, &b))
		assert.Equal(t, "g-pnpres", b.Events[0].Sub)
		assert.EqualValues(t, 1, r.feed.Stats().Waiting, "a poll that finds something unregisters")

		k.Cancel(wa)
		k.Cancel(wa) // twice is fine
		assert.EqualValues(t, 0, r.feed.Stats().Waiting)
		assert.Empty(t, k.wait)
		r.publish("sk", "a")
		assert.Empty(t, wa.Wake())
	})
}

func TestManyWaitersOnOneChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		k := r.acquire("sk")
		cur := k.Head(events.Timetoken(time.Now()))
		ws := make([]*Waiter, 50)
		var b Batch
		for i := range ws {
			ws[i] = NewWaiter()
			require.False(t, k.Poll(cur, chans("a", "a-pnpres", "x"+strconv.Itoa(i), "g"), 10, ws[i], &b))
		}
		// Unregister every other one, from the middle of the lists.
		for i := 0; i < len(ws); i += 2 {
			k.Cancel(ws[i])
		}
		r.publish("sk", "a")
		for i, w := range ws {
			assert.Equal(t, i%2, len(w.Wake()), "waiter %d", i)
		}
		for i := 1; i < len(ws); i += 2 {
			k.Cancel(ws[i])
		}
		assert.Empty(t, k.wait)
		assert.Zero(t, k.waiters)
	})
}

func TestEvictionBySizeMarksStaleChannels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Room for about three events.
		r := newRig(t, Config{MaxBytes: 3 * (entryOverhead + 24)}, 0)
		k := r.acquire("sk")
		cur := k.Head(events.Timetoken(time.Now()))
		ttA := r.publish("sk", "a")
		for range 5 {
			r.publish("sk", "b")
		}
		assert.LessOrEqual(t, k.bytes, k.f.cfg.MaxBytes)
		assert.Equal(t, 3, k.n)

		var b Batch
		// a's only event is gone: a client of a is told, up to its timetoken.
		require.True(t, k.Poll(cur, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Equal(t, []Stale{{Channel: "a", Sub: "a-pnpres", Timetoken: ttA}}, b.Stale)
		assert.Empty(t, b.Events)
		assert.Equal(t, k.newest, b.Cursor)
		// From past that point, a is fine.
		assert.False(t, k.Poll(ttA, chans("a", "a-pnpres"), 10, nil, &b))

		// A channel that lost nothing is not stale though its cursor is old.
		assert.False(t, k.Poll(cur, chans("c", "c-pnpres"), 10, nil, &b))

		// b lost two events: stale, and given what is kept.
		require.True(t, k.Poll(cur, chans("b", "b-pnpres"), 10, nil, &b))
		require.Len(t, b.Stale, 1)
		assert.Len(t, b.Events, 3)
		assert.Greater(t, b.Stale[0].Timetoken, ttA)
	})
}

func TestEvictedMemoryIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{MaxBytes: 1}, 0) // keeps only the newest event
		k := r.acquire("sk")
		cur := k.Head(events.Timetoken(time.Now()))
		first := r.publish("sk", "c0")
		for i := 1; i <= maxEvicted+10; i++ {
			r.publish("sk", "c"+strconv.Itoa(i))
		}
		assert.Equal(t, 1, k.n)
		assert.Equal(t, maxEvicted, k.eqN)
		assert.Len(t, k.evicted, maxEvicted)
		assert.Greater(t, k.floor, first, "what was forgotten folds into the floor")

		// Any channel with a cursor below the floor is stale, even one
		// that never had an event.
		var b Batch
		require.True(t, k.Poll(cur, chans("never", "never-pnpres"), 10, nil, &b))
		assert.Equal(t, k.floor, b.Stale[0].Timetoken)
	})
}

func TestAgeEvictionAndIdleKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{MaxAge: 10 * time.Second}, 0)
		k, err := r.feed.Acquire("sk")
		require.NoError(t, err)
		cur := k.Head(events.Timetoken(time.Now()))
		tt := r.publish("sk", "a")

		time.Sleep(9 * time.Second)
		synctest.Wait()
		var b Batch
		require.True(t, k.Poll(cur, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Len(t, b.Events, 1)

		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.True(t, k.Poll(cur, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Empty(t, b.Events)
		assert.Equal(t, tt, b.Stale[0].Timetoken)
		assert.Equal(t, Stats{Keys: 1}, r.feed.Stats(), "in use: kept")

		k.Release()
		time.Sleep(20 * time.Second)
		synctest.Wait()
		assert.Equal(t, Stats{}, r.feed.Stats(), "idle: forgotten")

		// Coming back with an old cursor: the new key cannot vouch for it.
		k = r.acquire("sk")
		require.True(t, k.Poll(cur, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Len(t, b.Stale, 1)
	})
}

func TestGapMarksEveryKeyAndWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		blocked := make(chan struct{}, 1)
		encode := func(dst []byte, ev *events.Event) []byte {
			if ev.Channel == "block" {
				blocked <- struct{}{}
				<-release
			}
			return encodeTest(dst, ev)
		}
		r := newRig(t, Config{Encode: encode}, 2)
		k1, k2 := r.acquire("sk1"), r.acquire("sk2")
		cur1 := k1.Head(events.Timetoken(time.Now()))
		cur2 := k2.Head(events.Timetoken(time.Now()))
		w := NewWaiter()
		var b Batch
		require.False(t, k2.Poll(cur2, chans("quiet", "quiet-pnpres"), 10, w, &b))

		r.bus.Publish(&events.Event{Action: events.Join, SubKey: "sk1", Channel: "block", UUID: "u"})
		<-blocked // the feed is stuck encoding
		for range 5 {
			r.bus.Publish(&events.Event{Action: events.Join, SubKey: "sk1", Channel: "lost", UUID: "u"})
		}
		time.Sleep(time.Second)
		close(release)
		synctest.Wait()

		st := r.feed.Stats()
		assert.NotZero(t, st.Gaps, "the drops may be marked on one event or on several")
		assert.Len(t, w.Wake(), 1, "waiters of every key are woken")
		require.True(t, k2.Poll(cur2, chans("quiet", "quiet-pnpres"), 10, w, &b))
		assert.Len(t, b.Stale, 1, "they may have missed events")
		require.True(t, k1.Poll(cur1, chans("lost", "lost-pnpres"), 10, nil, &b))
		assert.Len(t, b.Stale, 1)
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		r.acquire("sk")
		assert.Equal(t, 1, r.bus.Stats().Subscriptions)
		r.feed.Close()
		r.feed.Close()
		<-r.feed.Done()
		assert.Equal(t, 0, r.bus.Stats().Subscriptions)
		_, err := r.feed.Acquire("sk")
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestCloseBeforeUse(t *testing.T) {
	r := newRig(t, Config{}, 0)
	r.feed.Close()
	<-r.feed.Done()
	_, err := r.feed.Acquire("sk")
	assert.ErrorIs(t, err, ErrClosed)
}

func TestSourceClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		r.acquire("sk")
		r.bus.Close() // as engine.Close does
		<-r.feed.Done()
		synctest.Wait()
		_, err := r.feed.Acquire("other")
		assert.ErrorIs(t, err, ErrClosed)
	})
}

func TestChannels(t *testing.T) {
	var c Channels
	for i := range 20 {
		c.Add("c"+strconv.Itoa(i), "s"+strconv.Itoa(i))
		c.Add("c"+strconv.Itoa(i), "later") // the first wins
		for j := 0; j <= i; j++ {
			sub, ok := c.Lookup("c" + strconv.Itoa(j))
			require.True(t, ok, "%d of %d", j, i)
			assert.Equal(t, "s"+strconv.Itoa(j), sub)
		}
		_, ok := c.Lookup("nope")
		assert.False(t, ok)
	}
	assert.Equal(t, 20, c.Len())
	c.Reset()
	assert.Equal(t, 0, c.Len())
	_, ok := c.Lookup("c1")
	assert.False(t, ok)
	c.Add("x", "y")
	sub, ok := c.Lookup("x")
	assert.True(t, ok)
	assert.Equal(t, "y", sub)
}

// TestKeepAll: a KeepAll feed keeps every sub key's events from Start on,
// before any request asks for the sub key, and does not forget idle keys, so
// that a cursor handed out elsewhere finds the events after it.
func TestKeepAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{KeepAll: true, MaxAge: time.Minute}, 0)
		require.NoError(t, r.feed.Start())
		cursor := events.Timetoken(time.Now()) // as another server handed it out
		time.Sleep(time.Millisecond)
		tt1 := r.publish("sk", "a")
		r.publish("sk", "b")

		k := r.acquire("sk")
		var b Batch
		require.True(t, k.Poll(cursor, chans("a", "a-pnpres"), 10, nil, &b))
		assert.Equal(t, []string{"a@" + strconv.FormatInt(tt1, 10) + "/a-pnpres"}, bodies(&b))
		assert.Empty(t, b.Stale, "nothing was missed since the feed started")

		// A cursor from before the start may have missed events.
		require.True(t, k.Poll(cursor-int64(time.Second/100), chans("a", "a-pnpres"), 10, nil, &b))
		assert.Len(t, b.Stale, 1)

		// Past every age: events go, the key stays.
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, r.feed.Stats().Keys)
		assert.Zero(t, r.feed.Stats().Events)
	})
}

// TestStartWithoutKeepAll: Start opens the feed early, but a feed without
// KeepAll still keeps only the sub keys requests ask for.
func TestStartWithoutKeepAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, Config{}, 0)
		require.NoError(t, r.feed.Start())
		r.publish("sk", "a")
		assert.Zero(t, r.feed.Stats().Keys)
		r.feed.Close()
		require.ErrorIs(t, r.feed.Start(), ErrClosed)
	})
}
