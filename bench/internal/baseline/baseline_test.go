package baseline

import (
	"fmt"
	"sort"
	"sync"
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

// presence is what both baselines offer.
type presence interface {
	Heartbeat(uuid string, channels []string, timeout time.Duration) (int, error)
	Leave(uuid string, channels []string) (int, error)
	Occupancy(channel string) (int, error)
	HereNow(channel string, offset, limit int) (int, []string, error)
	Subscribe(channels []string, buffer int) (*Subscription, error)
	Close() error
}

var impls = []struct {
	name string
	new  func() presence
}{
	{"naive", func() presence { return NewNaive() }},
	{"wheel-per-member", func() presence { return NewWheelPerMember() }},
}

// forEach runs test for each baseline inside a synctest bubble, with a fresh
// instance closed when the test ends.
func forEach(t *testing.T, test func(t *testing.T, p presence)) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := impl.new()
				defer func() { require.NoError(t, p.Close()) }()
				test(t, p)
			})
		})
	}
}

// ev is the part of an event the tests compare.
type ev struct {
	Action    events.Action
	Channel   string
	UUID      string
	Occupancy int
}

// recorder collects a subscription's events. Inside a bubble, synctest.Wait
// before take makes sure every event published so far is in.
type recorder struct {
	mu   sync.Mutex
	evs  []ev
	done chan struct{}
}

func record(t *testing.T, p presence, channels ...string) *recorder {
	t.Helper()
	s, err := p.Subscribe(channels, 64)
	require.NoError(t, err)
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for e := range s.Events() {
			r.mu.Lock()
			r.evs = append(r.evs, ev{e.Action, e.Channel, e.UUID, e.Occupancy})
			r.mu.Unlock()
		}
	}()
	t.Cleanup(s.Close)
	return r
}

func (r *recorder) take() []ev {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func members(t *testing.T, p presence, channel string) []string {
	t.Helper()
	occ, uuids, err := p.HereNow(channel, 0, 1<<30)
	require.NoError(t, err)
	require.Len(t, uuids, occ)
	sort.Strings(uuids)
	return uuids
}

func occupancy(t *testing.T, p presence, channel string) int {
	t.Helper()
	n, err := p.Occupancy(channel)
	require.NoError(t, err)
	return n
}

func TestJoinAndRefresh(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		rec := record(t, p)
		n, err := p.Heartbeat("u1", []string{"a", "b"}, 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = p.Heartbeat("u2", []string{"a"}, 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		n, err = p.Heartbeat("u1", []string{"a", "b", "c"}, 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "only c is new")

		assert.Equal(t, []string{"u1", "u2"}, members(t, p, "a"))
		assert.Equal(t, 2, occupancy(t, p, "a"))
		assert.Equal(t, 1, occupancy(t, p, "b"))
		assert.Equal(t, 0, occupancy(t, p, "nowhere"))
		synctest.Wait()
		assert.Equal(t, []ev{
			{events.Join, "a", "u1", 1},
			{events.Join, "b", "u1", 1},
			{events.Join, "a", "u2", 2},
			{events.Join, "c", "u1", 1},
		}, rec.take())
	})
}

func TestTimeout(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		rec := record(t, p)
		_, err := p.Heartbeat("u1", []string{"a"}, 5*time.Second)
		require.NoError(t, err)
		_, err = p.Heartbeat("u2", []string{"a"}, 5*time.Second)
		require.NoError(t, err)
		synctest.Wait()
		rec.take()

		time.Sleep(3 * time.Second)
		_, err = p.Heartbeat("u1", []string{"a"}, 5*time.Second) // now due at 8s
		require.NoError(t, err)

		time.Sleep(3 * time.Second) // 6s: u2 is gone, u1 is not
		synctest.Wait()
		assert.Equal(t, []ev{{events.Timeout, "a", "u2", 1}}, rec.take())
		assert.Equal(t, []string{"u1"}, members(t, p, "a"))

		time.Sleep(3 * time.Second) // 9s: u1 is gone too, and so is the channel
		synctest.Wait()
		assert.Equal(t, []ev{{events.Timeout, "a", "u1", 0}}, rec.take())
		assert.Equal(t, 0, occupancy(t, p, "a"))
		assert.Empty(t, members(t, p, "a"))

		n, err := p.Heartbeat("u1", []string{"a"}, 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "a timed-out member joins again")
	})
}

func TestNotEarly(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		rec := record(t, p)
		_, err := p.Heartbeat("u1", []string{"a"}, 5*time.Second)
		require.NoError(t, err)
		synctest.Wait()
		rec.take()
		// The wheel baseline may fire up to its 1ms resolution early.
		time.Sleep(5*time.Second - 2*time.Millisecond)
		synctest.Wait()
		assert.Empty(t, rec.take())
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []ev{{events.Timeout, "a", "u1", 0}}, rec.take())
	})
}

func TestLeave(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		rec := record(t, p)
		_, err := p.Heartbeat("u1", []string{"a", "b"}, 5*time.Second)
		require.NoError(t, err)
		_, err = p.Heartbeat("u2", []string{"a"}, 5*time.Second)
		require.NoError(t, err)
		synctest.Wait()
		rec.take()

		n, err := p.Leave("u1", []string{"a", "b", "c"})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = p.Leave("u1", []string{"a"})
		require.NoError(t, err)
		assert.Equal(t, 0, n, "leaving twice is a no-op")
		assert.Equal(t, []string{"u2"}, members(t, p, "a"))
		assert.Equal(t, 0, occupancy(t, p, "b"))

		time.Sleep(10 * time.Second) // u1's timers were stopped: no timeout for it
		synctest.Wait()
		assert.Equal(t, []ev{
			{events.Leave, "a", "u1", 1},
			{events.Leave, "b", "u1", 0},
			{events.Timeout, "a", "u2", 0},
		}, rec.take())
	})
}

func TestFilteredSubscriptions(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		onA := record(t, p, "a")
		onAB := record(t, p, "a", "b", "a")
		for _, ch := range []string{"a", "b", "c"} {
			_, err := p.Heartbeat("u1", []string{ch}, 5*time.Second)
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.Equal(t, []ev{{events.Join, "a", "u1", 1}}, onA.take())
		assert.Equal(t, []ev{{events.Join, "a", "u1", 1}, {events.Join, "b", "u1", 1}}, onAB.take())
	})
}

func TestHereNowPaging(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		for i := range 10 {
			_, err := p.Heartbeat(fmt.Sprintf("u%d", i), []string{"a"}, time.Minute)
			require.NoError(t, err)
		}
		occ, page, err := p.HereNow("a", 0, 4)
		require.NoError(t, err)
		assert.Equal(t, 10, occ)
		assert.Len(t, page, 4)
		_, page, err = p.HereNow("a", 8, 4)
		require.NoError(t, err)
		assert.Len(t, page, 2)
		_, page, err = p.HereNow("a", 10, 4)
		require.NoError(t, err)
		assert.Empty(t, page)
	})
}

// TestConcurrentJoin checks that racing heartbeats of one uuid join each
// channel once, and time out once.
func TestConcurrentJoin(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		rec := record(t, p)
		const workers = 8
		joined := make(chan int, workers)
		for range workers {
			go func() {
				total := 0
				for range 100 {
					n, err := p.Heartbeat("u1", []string{"a", "b"}, time.Second)
					if err != nil {
						total = -1000
						break
					}
					total += n
				}
				joined <- total
			}()
		}
		total := 0
		for range workers {
			total += <-joined
		}
		assert.Equal(t, 2, total)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		evs := rec.take()
		sort.Slice(evs, func(i, j int) bool { return evs[i].Channel < evs[j].Channel })
		assert.Equal(t, []ev{
			{events.Join, "a", "u1", 1}, {events.Timeout, "a", "u1", 0},
			{events.Join, "b", "u1", 1}, {events.Timeout, "b", "u1", 0},
		}, evs)
	})
}

// TestChurn runs joins, refreshes and leaves from several goroutines on few
// channels while members time out, and checks that every channel's events
// replay to its final membership.
func TestChurn(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		rec := record(t, p)
		chans := []string{"a", "b", "c"}
		errs := make(chan error, 4)
		for w := range 4 {
			go func() {
				for i := range 300 {
					uuid := fmt.Sprintf("u%d", (w*7+i)%20)
					ch := chans[i%len(chans)]
					var err error
					if i%5 == 4 {
						_, err = p.Leave(uuid, []string{ch})
					} else {
						_, err = p.Heartbeat(uuid, []string{ch}, time.Duration(1+i%3)*time.Second)
					}
					if err != nil {
						errs <- err
						return
					}
					time.Sleep(time.Duration(i%4) * 10 * time.Millisecond)
				}
				errs <- nil
			}()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
		synctest.Wait()
		present := make(map[string]map[string]bool)
		for _, e := range rec.take() {
			set := present[e.Channel]
			if set == nil {
				set = make(map[string]bool)
				present[e.Channel] = set
			}
			switch e.Action {
			case events.Join:
				require.False(t, set[e.UUID], "%v: joined twice", e)
				set[e.UUID] = true
			default:
				require.True(t, set[e.UUID], "%v: not present", e)
				delete(set, e.UUID)
			}
		}
		for _, ch := range chans {
			var want []string
			for u := range present[ch] {
				want = append(want, u)
			}
			sort.Strings(want)
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, members(t, p, ch), ch)
		}
	})
}

func TestClose(t *testing.T) {
	forEach(t, func(t *testing.T, p presence) {
		s, err := p.Subscribe(nil, 1)
		require.NoError(t, err)
		_, err = p.Heartbeat("u1", []string{"a"}, time.Second)
		require.NoError(t, err)
		blocked := make(chan error)
		go func() { // its join event waits for room in the full buffer
			_, err := p.Heartbeat("u2", []string{"a"}, time.Second)
			blocked <- err
		}()
		synctest.Wait()
		require.NoError(t, p.Close())
		require.NoError(t, p.Close())
		require.NoError(t, <-blocked, "Close releases a blocked publisher")
		e, ok := <-s.Events()
		require.True(t, ok)
		assert.Equal(t, "u1", e.UUID)
		_, ok = <-s.Events()
		require.False(t, ok, "Close closes the subscription")

		_, err = p.Heartbeat("u1", []string{"a"}, time.Second)
		require.ErrorIs(t, err, ErrClosed)
		_, err = p.Leave("u1", []string{"a"})
		require.ErrorIs(t, err, ErrClosed)
		_, err = p.Occupancy("a")
		require.ErrorIs(t, err, ErrClosed)
		_, _, err = p.HereNow("a", 0, 10)
		require.ErrorIs(t, err, ErrClosed)
		_, err = p.Subscribe(nil, 1)
		require.ErrorIs(t, err, ErrClosed)
		time.Sleep(2 * time.Second) // timers were stopped: nothing fires
	})
}
