package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
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

// TestStressEventsReplayToHereNow races heartbeats (with and without state),
// leaves, state changes and expiry from many goroutines in virtual time, then
// checks that:
//   - replaying each channel's events from empty meets every stated occupancy
//     and ends at HereNow, with one join per absent -> present and one leave or
//     timeout per present -> absent;
//   - the joins and leaves callers were told of are exactly those published,
//     and Stats agree;
//   - no timeout came before its deadline;
//   - once everyone stops, everyone times out.
func TestStressEventsReplayToHereNow(t *testing.T) {
	seed := stressSeed(t)
	workers, ops := 16, 400
	if testing.Short() {
		workers, ops = 8, 100
	}
	const uuids, channels = 40, 12
	timeoutOf := func(u int) time.Duration { return time.Duration(20+u%3*10) * time.Second }

	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{AnnounceMax: -1, Tick: 500 * time.Millisecond})
		rec := record(t, e, events.Filter{})

		var mu sync.Mutex
		beats := map[key][]time.Time{} // when each (uuid, channel) heartbeat returned
		toldJoins, toldLeaves := 0, 0
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for range ops {
					u := rng.IntN(uuids)
					uuid := "u" + strconv.Itoa(u)
					chs := []string{"c" + strconv.Itoa(rng.IntN(channels))}
					if rng.IntN(4) == 0 {
						chs = append(chs, "c"+strconv.Itoa(rng.IntN(channels)))
					}
					switch op := rng.IntN(10); {
					case op < 6:
						r := HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: chs, Timeout: timeoutOf(u)}
						if op == 0 {
							r.State = map[string]json.RawMessage{chs[0]: raw(fmt.Sprintf(`{"n":%d}`, rng.IntN(3)))}
						}
						res, err := e.Heartbeat(ctx, r)
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						for _, ch := range chs {
							k := key{uuid, ch}
							beats[k] = append(beats[k], time.Now())
						}
						toldJoins += len(res.Joined)
						mu.Unlock()
					case op < 8:
						res, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: uuid, Channels: chs})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						toldLeaves += len(res.Left)
						mu.Unlock()
					default:
						_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: uuid, Channels: chs, State: raw(fmt.Sprintf(`{"n":%d}`, rng.IntN(3)))})
						if err != nil && !errors.Is(err, ErrNotPresent) {
							errs <- err
							return
						}
					}
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		var evs []events.Event
		check := func(final bool) {
			synctest.Wait()
			evs = append(evs, rec.take()...)
			present := map[string]map[string]bool{}
			joins, leaves, timeouts := 0, 0, 0
			for i, ev := range evs {
				set := present[ev.Channel]
				if set == nil {
					set = map[string]bool{}
					present[ev.Channel] = set
				}
				switch ev.Action {
				case events.Join:
					require.False(t, set[ev.UUID], "event %d: second join of %s on %s", i, ev.UUID, ev.Channel)
					set[ev.UUID] = true
					joins++
				case events.Leave, events.Timeout:
					require.True(t, set[ev.UUID], "event %d: %s of absent %s on %s", i, ev.Action, ev.UUID, ev.Channel)
					delete(set, ev.UUID)
					if ev.Action == events.Leave {
						leaves++
					} else {
						timeouts++
						hs := beats[key{ev.UUID, ev.Channel}]
						var last time.Time
						for _, h := range hs {
							if h.Before(ev.Time) {
								last = h
							}
						}
						u, _ := strconv.Atoi(ev.UUID[1:])
						require.False(t, ev.Time.Before(last.Add(timeoutOf(u))), "event %d: %s timed out on %s %v early", i, ev.UUID, ev.Channel, last.Add(timeoutOf(u)).Sub(ev.Time))
					}
				case events.StateChange:
					require.True(t, set[ev.UUID], "event %d: state-change of absent %s", i, ev.UUID)
				default:
					t.Fatalf("event %d: unexpected %s", i, ev.Action)
				}
				require.Equal(t, len(set), ev.Occupancy, "event %d: %s %s on %s", i, ev.Action, ev.UUID, ev.Channel)
			}
			want := map[string][]string{}
			for ch, set := range present {
				for u := range set {
					want[ch] = append(want[ch], u)
				}
			}
			got := hereNow(t, e)
			require.Len(t, got, len(want))
			members := 0
			for ch := range want {
				assert.ElementsMatch(t, want[ch], got[ch], ch)
				members += len(want[ch])
			}
			st := e.Stats()
			assert.Equal(t, int64(members), st.Members)
			assert.Equal(t, int64(len(want)), st.Channels)
			assert.Equal(t, uint64(joins), st.Joins)
			assert.Equal(t, uint64(leaves), st.Leaves)
			assert.Equal(t, uint64(timeouts), st.Timeouts)
			assert.Equal(t, toldJoins, joins, "joins told to callers")
			assert.Equal(t, toldLeaves, leaves, "leaves told to callers")
			if final {
				assert.Positive(t, leaves, "the run exercised leaves")
				assert.Positive(t, timeouts, "the run exercised expiry")
				assert.Zero(t, members, "everyone timed out")
				assert.Zero(t, st.UUIDs)
				assert.Zero(t, e.wheel.Len())
			}
		}
		check(false)
		time.Sleep(time.Minute)
		check(true)
	})
}
