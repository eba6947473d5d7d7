package events

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDropOldestStalledReader(t *testing.T) {
	tests := []struct {
		name      string
		buffer    int
		published int
	}{
		{"buffer=1", 1, 10},
		{"buffer=4", 4, 10},
		{"fits", 4, 5},
		{"default buffer", 0, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := &fakeClock{t: presentDay} // frozen: timetokens are consecutive
				bus := NewBus(BusConfig{Now: clock.Now})
				defer bus.Close()
				s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{Buffer: tt.buffer})
				require.NoError(t, err)
				buffer := tt.buffer
				if buffer == 0 {
					buffer = DefaultBuffer
				}

				// The first events fill the Events channel, the next one is
				// the pump's to hold while the channel is full, and the
				// buffer behind them keeps the newest of the rest.
				direct := directCap(buffer)
				require.Equal(t, direct, cap(s.Events()))
				first := min(direct+1, tt.published)
				for range first {
					bus.Publish(&Event{SubKey: "a", Channel: "x"})
				}
				synctest.Wait()
				for range tt.published - first {
					bus.Publish(&Event{SubKey: "a", Channel: "x"})
				}
				wantDropped := max(0, tt.published-1-buffer)
				assert.Equal(t, uint64(wantDropped), s.Dropped())
				assert.Equal(t, uint64(wantDropped), bus.Stats().Dropped)

				evs, _ := drain(s)
				require.Len(t, evs, tt.published-wantDropped)
				for i := range first {
					assert.Zero(t, evs[i].Dropped, "event %d, before the gap", i)
				}
				if len(evs) > first {
					assert.Equal(t, uint64(wantDropped), evs[first].Dropped, "the first event after the gap carries its size")
				}
				var markers uint64
				for _, ev := range evs {
					markers += ev.Dropped
				}
				assert.Equal(t, uint64(tt.published), uint64(len(evs))+markers)
				assert.Equal(t, s.Dropped(), markers)
			})
		})
	}
}

// TestDropOldestInterleaved publishes and reads in rounds and checks every gap
// marker against the timetokens, which a frozen clock makes consecutive.
func TestDropOldestInterleaved(t *testing.T) {
	rounds := []struct{ publish, read int }{
		{1, 0}, {10, 2}, {3, 1}, {0, 1}, {20, 0}, {5, 5}, {2, 1}, {50, 3}, {1, 1},
	}
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{t: presentDay}
		bus := NewBus(BusConfig{Now: clock.Now})
		defer bus.Close()
		s, err := bus.Subscribe(Filter{}, Options{Buffer: 3})
		require.NoError(t, err)

		published := 0
		var got []Event
		for _, r := range rounds {
			for range r.publish {
				bus.Publish(&Event{SubKey: "a", Channel: "x"})
				published++
			}
			for range r.read {
				synctest.Wait()
				select {
				case ev := <-s.Events():
					got = append(got, ev)
				default: // nothing buffered
				}
			}
		}
		rest, _ := drain(s)
		got = append(got, rest...)

		first := presentDay.UnixNano() / 100
		var markers uint64
		for i, ev := range got {
			prev := first - 1
			if i > 0 {
				prev = got[i-1].Timetoken
			}
			assert.Equal(t, uint64(ev.Timetoken-prev-1), ev.Dropped, "event %d", i)
			markers += ev.Dropped
		}
		assert.Equal(t, uint64(published), uint64(len(got))+markers)
		assert.Equal(t, markers, s.Dropped())
		assert.Equal(t, uint64(published), bus.Stats().Published)

		s.Close()
		assert.Equal(t, markers, bus.Stats().Dropped, "closed subscriptions still count")
	})
}

// lagging makes a Block subscription with buffer 2 hold more than its buffer:
// the Events channel holds one event, the pump one and the buffer behind
// them two, one more than its size of one.
func lagging(t *testing.T, bus *Bus, subKey string) *Subscription {
	t.Helper()
	s, err := bus.Subscribe(Filter{SubKey: subKey}, Options{Buffer: 2, Policy: Block})
	require.NoError(t, err)
	for range 2 {
		bus.Publish(&Event{SubKey: subKey, Channel: "x"})
	}
	synctest.Wait()
	for range 2 {
		bus.Publish(&Event{SubKey: subKey, Channel: "x"})
	}
	return s
}

// waitAsync runs bus.Wait on a goroutine of its own.
func waitAsync(ctx context.Context, bus *Bus) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- bus.Wait(ctx) }()
	return errc
}

func TestBlockNoPressureWithinBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		_, err := bus.Subscribe(Filter{SubKey: "a"}, Options{Buffer: 2, Policy: Block})
		require.NoError(t, err)
		bus.Publish(&Event{SubKey: "a", Channel: "x"}) // into the Events channel
		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		synctest.Wait() // the pump holds it, the channel being full
		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		require.NoError(t, bus.Wait(t.Context()), "a full buffer is no pressure yet")

		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, bus.Wait(ctx), context.Canceled, "one past the buffer is")
	})
}

func TestBlockWaitUntilCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		s := lagging(t, bus, "a")

		errc := waitAsync(t.Context(), bus)
		synctest.Wait()
		require.Empty(t, errc, "Wait blocks while the reader lags")

		<-s.Events() // the pump hands one over and takes the next: the buffer is back to 1
		synctest.Wait()
		require.Len(t, errc, 1)
		require.NoError(t, <-errc)
		require.NoError(t, bus.Wait(t.Context()))

		evs, _ := drain(s)
		assert.Len(t, evs, 3)
		assert.Zero(t, s.Dropped())
		assert.Zero(t, bus.Stats().Dropped)
	})
}

func TestBlockDropsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		s, err := bus.Subscribe(Filter{}, Options{Buffer: 2, Policy: Block})
		require.NoError(t, err)
		const n = 500
		for i := range n {
			bus.Publish(&Event{SubKey: "a", Channel: "x", Occupancy: i})
		}
		evs, _ := drain(s)
		require.Len(t, evs, n)
		for i, ev := range evs {
			require.Equal(t, i, ev.Occupancy)
			require.Zero(t, ev.Dropped)
		}
		assert.NoError(t, bus.Wait(t.Context()))
	})
}

func TestBlockWaitForEverySubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		s1 := lagging(t, bus, "a")
		s2 := lagging(t, bus, "b")

		errc := waitAsync(t.Context(), bus)
		drain(s1)
		require.Empty(t, errc, "one subscription still lags")
		drain(s2)
		require.Len(t, errc, 1)
		require.NoError(t, <-errc)
	})
}

func TestBlockWaitContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		lagging(t, bus, "a")

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		require.ErrorIs(t, bus.Wait(ctx), context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))

		ctx, cancel = context.WithCancel(t.Context())
		errc := waitAsync(ctx, bus)
		synctest.Wait()
		require.Empty(t, errc)
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
	})
}

func TestBlockWaitBusClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		lagging(t, bus, "a")

		errc := waitAsync(t.Context(), bus)
		synctest.Wait()
		require.Empty(t, errc)
		bus.Close()
		require.ErrorIs(t, <-errc, ErrClosed)
		require.ErrorIs(t, bus.Wait(t.Context()), ErrClosed, "after Close")
	})
}

func TestBlockSubscriptionCloseReleasesPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		s := lagging(t, bus, "a")

		errc := waitAsync(t.Context(), bus)
		synctest.Wait()
		require.Empty(t, errc)
		s.Close()
		require.NoError(t, <-errc)
		require.NoError(t, bus.Wait(t.Context()))
	})
}

func TestSubscriptionCloseWhilePumpBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{Buffer: 4})
		require.NoError(t, err)
		for range 3 {
			bus.Publish(&Event{SubKey: "a", Channel: "x"})
		}
		synctest.Wait() // the pump waits to send

		s.Close()
		_, ok := <-s.Events()
		assert.False(t, ok, "Events is closed and the buffer discarded")
		s.Close()

		bus.Publish(&Event{SubKey: "a", Channel: "x"})
		assert.False(t, bus.Interested("a", "x"))
		st := bus.Stats()
		assert.Equal(t, 0, st.Subscriptions)
		assert.Equal(t, uint64(4), st.Published)
	})
}

// A reader that keeps up, lags and catches up again, against publishers
// racing it: the events of a sub key arrive in timetoken order, none lost,
// whether they went straight into the Events channel or waited behind it.
func TestOrderAcrossDirectAndBufferedHandOver(t *testing.T) {
	bus := NewBus(BusConfig{})
	defer bus.Close()
	s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{Buffer: 8, Policy: Block})
	require.NoError(t, err)
	const publishers, each = 2, 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					if err := bus.Wait(t.Context()); err != nil {
						return
					}
					bus.Publish(&Event{SubKey: "a", Channel: "x", Occupancy: p*each + i})
				}
			})
		}
		wg.Wait()
	}()
	var last int64
	seen := make([]int, publishers) // the next Occupancy expected of each publisher
	for n := range publishers * each {
		if n%1000 < 10 {
			for range 100 { // lag now and then: events wait behind the channel
				runtime.Gosched()
			}
		}
		ev := <-s.Events()
		require.Greater(t, ev.Timetoken, last, "event %d", n)
		last = ev.Timetoken
		p := ev.Occupancy / each
		require.Equal(t, seen[p], ev.Occupancy%each, "publisher %d's events in order", p)
		seen[p]++
		require.Zero(t, ev.Dropped)
	}
	<-done
	assert.Equal(t, []int{each, each}, seen)
}

// TestBlockBufferReuseAfterOverflow: a Block subscriber that falls up to
// twice its buffer behind and catches up, again and again, reuses the buffer
// it grew; one that falls further behind gets the memory back once it has
// caught up.
func TestBlockBufferReuseAfterOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := NewBus(BusConfig{})
		defer bus.Close()
		s, err := bus.Subscribe(Filter{SubKey: "a"}, Options{Buffer: 64, Policy: Block})
		require.NoError(t, err)
		require.Equal(t, 32, s.limit)
		ringLen := func() int {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.ring)
		}
		// lag publishes k events while the reader waits, then reads them.
		lag := func(k int) {
			for range k {
				bus.Publish(&Event{SubKey: "a", Channel: "x"})
				synctest.Wait() // the pump takes what it can
			}
			for range k {
				<-s.Events()
			}
			synctest.Wait()
		}
		// 32 in the Events channel, one in the pump's hand, 64 in the buffer.
		const edge = 32 + 1 + 2*32
		lag(edge)
		require.Equal(t, 2*32, ringLen(), "grown to twice the limit and kept")
		s.mu.Lock()
		kept := &s.ring[0]
		s.mu.Unlock()
		assert.Equal(t, 1.0, testing.AllocsPerRun(5, func() { lag(edge) }),
			"a cycle over the edge allocates only the back-pressure's relief channel")
		s.mu.Lock()
		assert.Same(t, kept, &s.ring[0], "and reuses the buffer")
		s.mu.Unlock()

		lag(edge + 1) // the buffer grows to four times the limit
		assert.Zero(t, ringLen(), "the buffer is given back")
		assert.NoError(t, bus.Wait(t.Context()))
	})
}
