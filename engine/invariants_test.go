package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
)

// stressSeed is the seed of the randomized tests: PRESENCE_SEED reproduces a run.
func stressSeed(t *testing.T) uint64 {
	if s := os.Getenv("PRESENCE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	n := rand.Uint64()
	t.Logf("PRESENCE_SEED=%d", n)
	return n
}

type key struct{ uuid, ch string }

// tally is what replaying events from empty gives.
type tally struct {
	present                 map[string]map[string]bool // channel -> uuids
	joins, leaves, timeouts int
}

// replay applies evs in order and fails the test at the first event that
// contradicts the ones before it: a join of a present uuid, a leave, timeout or
// state-change of an absent one, or an occupancy other than the replayed one.
// early, if set, is asked whether a timeout came before its deadline.
func replay(t *testing.T, evs []events.Event, early func(ev events.Event) string) tally {
	t.Helper()
	tl := tally{present: map[string]map[string]bool{}}
	for i, ev := range evs {
		set := tl.present[ev.Channel]
		if set == nil {
			set = map[string]bool{}
			tl.present[ev.Channel] = set
		}
		switch ev.Action {
		case events.Join:
			require.False(t, set[ev.UUID], "event %d: second join of %s on %s", i, ev.UUID, ev.Channel)
			set[ev.UUID] = true
			tl.joins++
		case events.Leave, events.Timeout:
			require.True(t, set[ev.UUID], "event %d: %s of absent %s on %s", i, ev.Action, ev.UUID, ev.Channel)
			delete(set, ev.UUID)
			if ev.Action == events.Leave {
				tl.leaves++
			} else {
				tl.timeouts++
				if early != nil {
					require.Empty(t, early(ev), "event %d", i)
				}
			}
		case events.StateChange:
			require.True(t, set[ev.UUID], "event %d: state-change of absent %s on %s", i, ev.UUID, ev.Channel)
		default:
			t.Fatalf("event %d: unexpected %s", i, ev.Action)
		}
		require.Equal(t, len(set), ev.Occupancy, "event %d: %s %s on %s", i, ev.Action, ev.UUID, ev.Channel)
		if len(set) == 0 {
			delete(tl.present, ev.Channel)
		}
	}
	return tl
}

// checkAgainstQueries compares a replay with HereNow, WhereNow and Stats.
func checkAgainstQueries(t *testing.T, e *Engine, tl tally) {
	t.Helper()
	got := hereNow(t, e)
	require.Len(t, got, len(tl.present), "channels")
	members := 0
	byUUID := map[string][]string{}
	for ch, set := range tl.present {
		var want []string
		for u := range set {
			want = append(want, u)
			byUUID[u] = append(byUUID[u], ch)
		}
		require.ElementsMatch(t, want, got[ch], ch)
		members += len(want)
	}
	for u, chs := range byUUID {
		where, err := e.WhereNow(sk, u)
		require.NoError(t, err)
		slices.Sort(chs)
		require.Equal(t, chs, where, "where now %s", u)
	}
	st := e.Stats()
	assert.Equal(t, int64(members), st.Members)
	assert.Equal(t, int64(len(tl.present)), st.Channels)
	assert.Equal(t, int64(len(byUUID)), st.UUIDs)
	assert.Equal(t, uint64(tl.joins), st.Joins)
	assert.Equal(t, uint64(tl.leaves), st.Leaves)
	assert.Equal(t, uint64(tl.timeouts), st.Timeouts)
}

// TestInvariantsRandomized runs phases of random heartbeats (with and without
// state, on channels and groups), leaves and state changes from many
// goroutines in virtual time, and between phases changes the groups. At each
// quiet point it checks that the events replay to HereNow, WhereNow and
// Stats, that callers were told of exactly the joins and leaves published, and
// that nobody is present past their deadline plus one tick; at the end, after
// silence, that everyone timed out, none before its deadline.
// PRESENCE_SEED reproduces a run; -short shrinks it.
func TestInvariantsRandomized(t *testing.T) {
	seed := stressSeed(t)
	phases, workers, ops := 6, 12, 120
	if testing.Short() {
		phases, workers, ops = 3, 6, 40
	}
	const uuids, channels, groups = 200, 60, 6
	const tick = 200 * time.Millisecond
	timeoutOf := func(u string) time.Duration {
		n, _ := strconv.Atoi(u[1:])
		return time.Duration(20+n%4*5) * time.Second
	}

	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{AnnounceMax: -1, Tick: tick})
		rec := record(t, e, events.Filter{})
		rng := rand.New(rand.NewPCG(seed, 0))

		var mu sync.Mutex
		beats := map[key][]time.Time{}
		toldJoins, toldLeaves := 0, 0
		var evs []events.Event

		groupChans := map[string][]string{}
		regroup := func() {
			for g := range groups {
				name := "g" + strconv.Itoa(g)
				chans, err := e.GroupChannels(sk, name)
				require.NoError(t, err)
				if len(chans) > 0 && rng.IntN(2) == 0 {
					require.NoError(t, e.RemoveChannelsFromGroup(sk, name, chans[rng.IntN(len(chans))]))
				}
				add := []string{"c" + strconv.Itoa(rng.IntN(channels)), "c" + strconv.Itoa(rng.IntN(channels))}
				require.NoError(t, e.AddChannelsToGroup(sk, name, add...))
				groupChans[name], err = e.GroupChannels(sk, name)
				require.NoError(t, err)
			}
		}

		earlyTimeout := func(ev events.Event) string {
			var last time.Time
			for _, h := range beats[key{ev.UUID, ev.Channel}] {
				if h.Before(ev.Time) {
					last = h
				}
			}
			if due := last.Add(timeoutOf(ev.UUID)); ev.Time.Before(due) {
				return fmt.Sprintf("%s timed out on %s %v before its deadline", ev.UUID, ev.Channel, due.Sub(ev.Time))
			}
			return ""
		}

		for phase := range phases {
			regroup()
			errs := make(chan error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, uint64(phase*workers+w+1)))
					for range ops {
						if err := randomOp(e, rng, uuids, channels, groups, groupChans, timeoutOf, &mu, beats, &toldJoins, &toldLeaves); err != nil {
							errs <- err
							return
						}
						time.Sleep(time.Duration(rng.IntN(4000)) * time.Millisecond)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}

			// A quiet point.
			synctest.Wait()
			evs = append(evs, rec.take()...)
			tl := replay(t, evs, earlyTimeout)
			checkAgainstQueries(t, e, tl)
			assert.Equal(t, toldJoins, tl.joins, "joins told to callers")
			assert.Equal(t, toldLeaves, tl.leaves, "leaves told to callers")
			now := time.Now()
			for ch, set := range tl.present {
				for u := range set {
					hs := beats[key{u, ch}]
					require.NotEmpty(t, hs, "%s on %s without a heartbeat", u, ch)
					due := hs[len(hs)-1].Add(timeoutOf(u))
					require.False(t, now.After(due.Add(tick+time.Millisecond)), "%s still on %s %v past its deadline", u, ch, now.Sub(due))
				}
			}
		}

		time.Sleep(time.Minute)
		synctest.Wait()
		evs = append(evs, rec.take()...)
		tl := replay(t, evs, earlyTimeout)
		checkAgainstQueries(t, e, tl)
		assert.Empty(t, tl.present, "everyone timed out")
		assert.Positive(t, tl.timeouts)
		assert.Positive(t, tl.leaves)
		assert.Zero(t, e.wheel.Len())
	})
}

// randomOp does one random operation and records what the test needs.
func randomOp(e *Engine, rng *rand.Rand, uuids, channels, groups int, groupChans map[string][]string,
	timeoutOf func(string) time.Duration, mu *sync.Mutex, beats map[key][]time.Time, toldJoins, toldLeaves *int) error {
	uuid := "u" + strconv.Itoa(rng.IntN(uuids))
	var chs, gs []string
	for range 1 + rng.IntN(3) {
		chs = append(chs, "c"+strconv.Itoa(rng.IntN(channels)))
	}
	if rng.IntN(3) == 0 {
		gs = []string{"g" + strconv.Itoa(rng.IntN(groups))}
	}
	covered := slices.Clone(chs)
	for _, g := range gs {
		covered = append(covered, groupChans[g]...)
	}
	switch op := rng.IntN(10); {
	case op < 6:
		r := HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: chs, Groups: gs, Timeout: timeoutOf(uuid)}
		if op == 0 {
			r.State = map[string]json.RawMessage{chs[0]: raw(fmt.Sprintf(`{"n":%d}`, rng.IntN(3)))}
		}
		res, err := e.Heartbeat(ctx, r)
		if err != nil {
			return err
		}
		mu.Lock()
		for _, ch := range covered {
			k := key{uuid, ch}
			beats[k] = append(beats[k], time.Now())
		}
		*toldJoins += len(res.Joined)
		mu.Unlock()
	case op < 8:
		res, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: uuid, Channels: chs, Groups: gs})
		if err != nil {
			return err
		}
		mu.Lock()
		*toldLeaves += len(res.Left)
		mu.Unlock()
	default:
		_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: uuid, Channels: chs, Groups: gs, State: raw(fmt.Sprintf(`{"n":%d}`, rng.IntN(3)))})
		if err != nil && !errors.Is(err, ErrNotPresent) {
			return err
		}
	}
	return nil
}
