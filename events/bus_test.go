package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drain receives every event s has ready, waiting inside the synctest bubble
// until its pump is blocked. It stops early if the channel is closed.
func drain(s *Subscription) (evs []Event, closed bool) {
	for {
		synctest.Wait()
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return evs, true
			}
			evs = append(evs, ev)
		default:
			return evs, false
		}
	}
}

// key names an event by where it was published.
func key(ev Event) string { return ev.SubKey + "/" + ev.Channel }

func keys(evs []Event) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, key(ev))
	}
	return out
}

func TestSubscribeValidation(t *testing.T) {
	tests := []struct {
		name    string
		filter  Filter
		options Options
		wantErr error
	}{
		{"everything", Filter{}, Options{}, nil},
		{"sub key", Filter{SubKey: "a"}, Options{}, nil},
		{"channels", Filter{SubKey: "a", Channels: []string{"x", "y", "x"}}, Options{Buffer: 1, Policy: Block}, nil},
		{"channels without sub key", Filter{Channels: []string{"x"}}, Options{}, ErrInvalidFilter},
		{"empty channel name", Filter{SubKey: "a", Channels: []string{"x", ""}}, Options{}, ErrInvalidFilter},
		{"negative buffer", Filter{}, Options{Buffer: -1}, ErrInvalidOptions},
		{"unknown policy", Filter{}, Options{Policy: Policy(7)}, ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := NewBus(BusConfig{})
			defer bus.Close()
			s, err := bus.Subscribe(tt.filter, tt.options)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, s)
				assert.Equal(t, 0, bus.Stats().Subscriptions)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 1, bus.Stats().Subscriptions)
		})
	}
}

func TestSubscribeCopiesChannels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		chans := []string{"x", "x"}
		s, err := bus.Subscribe(Filter{SubKey: "a", Channels: chans}, Options{})
		require.NoError(t, err)
		chans[0] = "y"

		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		bus.Publish(&Event{SubKey: "a", Channel: "y"})
		evs, _ := drain(s)
		assert.Equal(t, []string{"a/x"}, keys(evs), "duplicate channels deliver once; the caller's slice is not kept")
	})
}

func TestFilterDelivery(t *testing.T) {
	filters := map[string]Filter{
		"everything": {},
		"a":          {SubKey: "a"},
		"a/x":        {SubKey: "a", Channels: []string{"x"}},
		"a/x,y":      {SubKey: "a", Channels: []string{"x", "y"}},
		"b/x":        {SubKey: "b", Channels: []string{"x"}},
		"b/z":        {SubKey: "b", Channels: []string{"z"}},
	}
	published := []string{"a/x", "a/y", "a/z", "b/x", "b/y", "c/x"}
	want := map[string][]string{
		"everything": published,
		"a":          {"a/x", "a/y", "a/z"},
		"a/x":        {"a/x"},
		"a/x,y":      {"a/x", "a/y"},
		"b/x":        {"b/x"},
		"b/z":        {},
	}
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		subs := map[string]*Subscription{}
		for name, f := range filters {
			s, err := bus.Subscribe(f, Options{})
			require.NoError(t, err)
			subs[name] = s
		}
		for _, p := range published {
			sk, ch, _ := strings.Cut(p, "/")
			bus.Publish(&Event{Action: Join, SubKey: sk, Channel: ch, UUID: "u"})
		}
		for name, s := range subs {
			evs, _ := drain(s)
			assert.Equal(t, want[name], keys(evs), name)
		}
	})
}

func TestInterestedAgreesWithDelivery(t *testing.T) {
	probes := []struct{ subKey, channel string }{
		{"a", "x"}, {"a", "y"}, {"a", "z"}, {"b", "x"}, {"b", "y"}, {"c", "x"},
	}
	tests := []struct {
		name    string
		filters []Filter
	}{
		{"none", nil},
		{"everything", []Filter{{}}},
		{"one sub key", []Filter{{SubKey: "a"}}},
		{"channels", []Filter{{SubKey: "a", Channels: []string{"x"}}, {SubKey: "b", Channels: []string{"y", "x"}}}},
		{"mixed", []Filter{{SubKey: "b"}, {SubKey: "a", Channels: []string{"y"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bus := NewBus(BusConfig{})
				defer bus.Close()
				var subs []*Subscription
				for _, f := range tt.filters {
					s, err := bus.Subscribe(f, Options{})
					require.NoError(t, err)
					subs = append(subs, s)
				}
				for _, p := range probes {
					interested := bus.Interested(p.subKey, p.channel)
					bus.Publish(&Event{SubKey: p.subKey, Channel: p.channel})
					delivered := false
					for _, s := range subs {
						evs, _ := drain(s)
						delivered = delivered || len(evs) > 0
					}
					assert.Equal(t, delivered, interested, "%s/%s", p.subKey, p.channel)
				}
				for _, s := range subs {
					s.Close()
				}
				for _, p := range probes {
					assert.False(t, bus.Interested(p.subKey, p.channel), "after unsubscribe: %s/%s", p.subKey, p.channel)
				}
			})
		})
	}
}

// A route tells what Interested tells, and an event published on it
// reaches exactly the subscriptions Publish would hand it to.
func TestRouteAgreesWithPublish(t *testing.T) {
	probes := []struct{ subKey, channel string }{
		{"a", "x"}, {"a", "y"}, {"a", "z"}, {"b", "x"}, {"b", "y"}, {"c", "x"},
	}
	for _, filters := range [][]Filter{
		nil,
		{{}},
		{{SubKey: "a"}},
		{{SubKey: "a", Channels: []string{"x"}}, {SubKey: "b", Channels: []string{"y", "x"}}},
		{{SubKey: "b"}, {SubKey: "a", Channels: []string{"y"}}, {}},
	} {
		synctest.Test(t, func(t *testing.T) {
			bus := NewBus(BusConfig{})
			defer bus.Close()
			var subs []*Subscription
			for _, f := range filters {
				s, err := bus.Subscribe(f, Options{})
				require.NoError(t, err)
				subs = append(subs, s)
			}
			got := func() []int {
				var n []int
				for _, s := range subs {
					evs, _ := drain(s)
					n = append(n, len(evs))
				}
				return n
			}
			for _, p := range probes {
				bus.Publish(&Event{SubKey: p.subKey, Channel: p.channel})
				want := got()
				r, ok := bus.Route(p.subKey, p.channel)
				assert.Equal(t, bus.Interested(p.subKey, p.channel), ok, "%v %s/%s", filters, p.subKey, p.channel)
				r.Publish(&Event{SubKey: p.subKey, Channel: p.channel})
				assert.Equal(t, want, got(), "%v %s/%s", filters, p.subKey, p.channel)
			}
		})
	}
}

// Events published on routes and by Publish share the sub key's
// timetokens, and a route taken before Close publishes nothing after it.
func TestRouteTimetokensAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{})
		require.NoError(t, err)
		r, ok := bus.Route("a", "x")
		require.True(t, ok)
		r.Publish(&Event{SubKey: "a", Channel: "x"})
		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		r.Publish(&Event{SubKey: "a", Channel: "x"})
		evs, _ := drain(s)
		require.Len(t, evs, 3)
		assert.Less(t, evs[0].Timetoken, evs[1].Timetoken)
		assert.Less(t, evs[1].Timetoken, evs[2].Timetoken)
		bus.Close()
		r.Publish(&Event{SubKey: "a", Channel: "x"}) // does nothing
		assert.Equal(t, uint64(3), bus.Stats().Published)
	})
}

// The index finds the subscriptions of a sub key without its map when they
// are the only ones, and follows subscriptions coming and going.
func TestRouteFollowsSubKeysComingAndGoing(t *testing.T) {
	bus := NewBus(BusConfig{})
	defer bus.Close()
	interested := func(subKey string) bool { _, ok := bus.Route(subKey, "x"); return ok }
	a, err := bus.Subscribe(Filter{SubKey: "a"}, Options{})
	require.NoError(t, err)
	assert.True(t, interested("a"))
	assert.False(t, interested("b"))
	b, err := bus.Subscribe(Filter{SubKey: "b", Channels: []string{"x"}}, Options{})
	require.NoError(t, err)
	assert.True(t, interested("a"))
	assert.True(t, interested("b"))
	a.Close()
	assert.False(t, interested("a"))
	assert.True(t, interested("b"))
	b.Close()
	assert.False(t, interested("a"))
	assert.False(t, interested("b"))
}

func TestInterestedAfterClose(t *testing.T) {
	bus := NewBus(BusConfig{})
	_, err := bus.Subscribe(Filter{}, Options{})
	require.NoError(t, err)
	assert.True(t, bus.Interested("a", "x"))
	bus.Close()
	assert.False(t, bus.Interested("a", "x"))
}

func TestTimetokensStrictlyIncreasing(t *testing.T) {
	tests := []struct {
		name string
		step time.Duration
	}{
		{"clock stands still", 0},
		{"clock goes backwards", -time.Second},
		{"clock moves slower than 100ns", 30 * time.Nanosecond},
		{"clock moves forward", time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: presentDay, step: tt.step}
			bus := NewBus(BusConfig{Now: clock.Now})
			defer bus.Close()
			first, last := map[string]int64{}, map[string]int64{}
			for i := range 300 {
				sk := []string{"a", "b", "c"}[i%3]
				ev := &Event{SubKey: sk, Channel: "x"}
				bus.Publish(ev)
				if prev, ok := last[sk]; ok {
					require.Greater(t, ev.Timetoken, prev, "event %d of %s", i, sk)
				} else {
					assert.Equal(t, ev.Time.UnixNano()/100, ev.Timetoken, "each sub key starts from the clock")
					first[sk] = ev.Timetoken
				}
				last[sk] = ev.Timetoken
				assert.Len(t, ev.TimetokenString(), 17)
			}
			if tt.step <= 0 {
				for sk, tt := range last {
					assert.Equal(t, first[sk]+99, tt, "%s: one step per event", sk)
				}
			}
		})
	}
}

func TestPublishSetsTimeAndCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{t: presentDay, step: -time.Hour}
		bus := NewBus(BusConfig{Now: clock.Now})
		defer bus.Close()
		s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{})
		require.NoError(t, err)

		ev := &Event{Action: Join, SubKey: "a", Channel: "x", UUID: "u", Occupancy: 1, Dropped: 99}
		bus.Publish(ev)
		bus.Publish(ev) // the clock went back an hour
		ev.Occupancy = 7

		evs, _ := drain(s)
		require.Len(t, evs, 2)
		assert.Equal(t, 1, evs[0].Occupancy, "subscribers get a copy")
		assert.Zero(t, evs[0].Dropped, "Dropped is the subscription's, not the publisher's")
		assert.True(t, evs[0].Time.Equal(presentDay))
		assert.True(t, evs[1].Time.Equal(presentDay.Add(-time.Hour)), "Time is the wall clock as read")
		assert.Equal(t, evs[0].Timetoken+1, evs[1].Timetoken)
	})
}

// TestOrderConcurrentPublishers checks that each subscription receives a sub
// key's events in publish order (the order of their timetokens) while many
// goroutines publish at once. Run it with -race.
func TestOrderConcurrentPublishers(t *testing.T) {
	const publishers, perPublisher = 8, 400
	for _, clock := range []struct {
		name string
		now  func() time.Time
	}{
		{"clock=real", nil},
		{"clock=frozen", func() time.Time { return presentDay }},
	} {
		t.Run(clock.name, func(t *testing.T) {
			bus := NewBus(BusConfig{Now: clock.now})
			defer bus.Close()
			all, err := bus.Subscribe(Filter{}, Options{Buffer: 8, Policy: Block})
			require.NoError(t, err)
			one, err := bus.Subscribe(Filter{SubKey: "sk", Channels: []string{"p3"}}, Options{Buffer: 8, Policy: Block})
			require.NoError(t, err)

			collect := func(s *Subscription, n int) <-chan []Event {
				out := make(chan []Event, 1)
				go func() {
					evs := make([]Event, 0, n)
					for ev := range s.Events() {
						evs = append(evs, ev)
						if len(evs) == n {
							break
						}
					}
					out <- evs
				}()
				return out
			}
			allc := collect(all, publishers*perPublisher)
			onec := collect(one, perPublisher)

			// published[tt] = the event that got timetoken tt.
			var mu sync.Mutex
			published := map[int64]Event{}
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Go(func() {
					mine := make([]Event, 0, perPublisher)
					for seq := range perPublisher {
						ev := &Event{Action: Join, SubKey: "sk", Channel: fmt.Sprintf("p%d", p), Occupancy: seq}
						bus.Publish(ev)
						mine = append(mine, *ev)
					}
					mu.Lock()
					for _, ev := range mine {
						published[ev.Timetoken] = ev
					}
					mu.Unlock()
				})
			}
			wg.Wait()
			require.Len(t, published, publishers*perPublisher, "timetokens are unique")

			check := func(evs []Event, wantLen int) {
				require.Len(t, evs, wantLen)
				next := map[string]int{}
				for i, ev := range evs {
					if i > 0 {
						require.Greater(t, ev.Timetoken, evs[i-1].Timetoken, "event %d", i)
					}
					want, ok := published[ev.Timetoken]
					require.True(t, ok, "event %d has a timetoken nobody published", i)
					require.Equal(t, want.Channel, ev.Channel)
					require.Equal(t, want.Occupancy, ev.Occupancy)
					require.Equal(t, next[ev.Channel], ev.Occupancy, "publisher %s out of order", ev.Channel)
					next[ev.Channel]++
					require.Zero(t, ev.Dropped)
				}
			}
			check(<-allc, publishers*perPublisher)
			check(<-onec, perPublisher)
			assert.Zero(t, bus.Stats().Dropped)
		})
	}
}

// TestOrderAcrossSubKeys publishes on several sub keys at once to
// subscriptions of every sub key, of one sub key and of one channel, so that
// publishers of different sub keys lock shared subscriptions together. Each
// subscription must receive every event it matches, each sub key's in
// timetoken order. Run it with -race.
func TestOrderAcrossSubKeys(t *testing.T) {
	const keys, perKey, perPublisher = 4, 2, 300
	bus := NewBus(BusConfig{})
	defer bus.Close()
	type sub struct {
		want int
		got  chan []Event
	}
	var subs []*sub
	add := func(f Filter, want int) {
		s, err := bus.Subscribe(f, Options{Buffer: 4, Policy: Block})
		require.NoError(t, err)
		x := &sub{want: want, got: make(chan []Event, 1)}
		go func() {
			var evs []Event
			for ev := range s.Events() {
				if evs = append(evs, ev); len(evs) == want {
					break
				}
			}
			x.got <- evs
		}()
		subs = append(subs, x)
	}
	add(Filter{}, keys*perKey*perPublisher)
	for k := range keys {
		sk := fmt.Sprintf("sk%d", k)
		add(Filter{SubKey: sk}, perKey*perPublisher)
		add(Filter{SubKey: sk, Channels: []string{"p0"}}, perPublisher)
	}
	add(Filter{}, keys*perKey*perPublisher)

	var wg sync.WaitGroup
	for k := range keys {
		for p := range perKey {
			wg.Go(func() {
				for seq := range perPublisher {
					bus.Publish(&Event{SubKey: fmt.Sprintf("sk%d", k), Channel: fmt.Sprintf("p%d", p), Occupancy: seq})
				}
			})
		}
	}
	wg.Wait()
	for i, x := range subs {
		evs := <-x.got
		require.Len(t, evs, x.want, "subscription %d", i)
		last := map[string]int64{} // sub key -> timetoken
		next := map[string]int{}   // publisher -> sequence number
		for _, ev := range evs {
			if tt, ok := last[ev.SubKey]; ok {
				require.Greater(t, ev.Timetoken, tt, "subscription %d, %s", i, ev.SubKey)
			}
			last[ev.SubKey] = ev.Timetoken
			pub := key(ev)
			require.Equal(t, next[pub], ev.Occupancy, "subscription %d, publisher %s", i, pub)
			next[pub]++
		}
	}
}

func TestBusClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		var subs []*Subscription
		for _, f := range []Filter{{}, {SubKey: "a"}, {SubKey: "a", Channels: []string{"x"}}} {
			s, err := bus.Subscribe(f, Options{})
			require.NoError(t, err)
			subs = append(subs, s)
		}
		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		synctest.Wait()

		bus.Close()
		bus.Close()
		for i, s := range subs {
			_, ok := <-s.Events()
			assert.False(t, ok, "subscription %d", i)
			s.Close()
		}
		_, err := bus.Subscribe(Filter{}, Options{})
		require.ErrorIs(t, err, ErrClosed)

		ev := &Event{SubKey: "a", Channel: "x"}
		bus.Publish(ev)
		assert.Zero(t, ev.Timetoken, "Publish does nothing after Close")
		assert.Equal(t, BusStats{Published: 1}, bus.Stats())
	})
}

// TestCloseConcurrent closes the bus and its subscriptions while every other
// method runs. Run it with -race; goleak checks that no goroutine survives.
func TestCloseConcurrent(t *testing.T) {
	bus := NewBus(BusConfig{})
	errc := make(chan error, 100)
	halfway := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup

	for p := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				if i == 500 && p == 0 {
					once.Do(func() { close(halfway) })
				}
				bus.Publish(&Event{SubKey: fmt.Sprint(i % 3), Channel: fmt.Sprint(i % 5)})
				_ = bus.Interested("1", "2")
				_ = bus.Stats()
			}
		})
	}
	for w := range 4 {
		wg.Go(func() {
			for range 200 {
				f := Filter{SubKey: fmt.Sprint(w % 3)}
				if w == 3 {
					f = Filter{}
				}
				s, err := bus.Subscribe(f, Options{Buffer: 2, Policy: Policy(w % 2)})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					errc <- err
					return
				}
				if w%2 == 0 {
					// Read a little, then leave; Block subscriptions (odd w)
					// are never read and keep the pressure on.
					select {
					case <-s.Events():
					default:
					}
				}
				if w < 2 {
					s.Close()
				}
				if err := bus.Wait(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
					errc <- err
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			<-halfway
			bus.Close()
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}

	require.ErrorIs(t, bus.Wait(context.Background()), ErrClosed)
	assert.Equal(t, 0, bus.Stats().Subscriptions)
}

func TestAllocs(t *testing.T) {
	bus := NewBus(BusConfig{})
	defer bus.Close()
	ev := &Event{Action: Join, SubKey: "a", Channel: "x", UUID: "u", Occupancy: 1}

	assert.Zero(t, testing.AllocsPerRun(100, func() { bus.Publish(ev) }), "Publish, no subscribers")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = bus.Interested("a", "x") }), "Interested, no subscribers")

	_, err := bus.Subscribe(Filter{SubKey: "b", Channels: []string{"x"}}, Options{})
	require.NoError(t, err)
	_, err = bus.Subscribe(Filter{SubKey: "a", Channels: []string{"y"}}, Options{Policy: Block})
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(100, func() { bus.Publish(ev) }), "Publish, no matching subscriber")
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if bus.Interested("a", "x") || !bus.Interested("a", "y") {
			t.Error("Interested is wrong")
		}
	}), "Interested")
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		r, ok := bus.Route("a", "x")
		r.Publish(ev)
		if ok {
			t.Error("Route is wrong")
		}
	}), "Route and Publish, no matching subscriber")
	ctx := context.Background()
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = bus.Wait(ctx) }), "Wait, no pressure")
}
