package engine

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFailedJoinLeavesNoChannel(t *testing.T) {
	inBubble(t, Config{MaxMembers: 1}, func(t *testing.T, e *Engine) {
		mustBeat(t, e, hb("a", "x"))
		_, err := e.Heartbeat(ctx, hb("b", "y", "z"))
		require.ErrorIs(t, err, ErrCapacity)
		assert.Equal(t, int64(1), e.Stats().Channels)
		res, err := e.HereNow(HereNowRequest{SubKey: sk})
		require.NoError(t, err)
		assert.Equal(t, 1, res.TotalChannels)
	})
}

func TestEmptyKeyspacesAreDropped(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		for i := range 100 {
			k := "tmp-" + strconv.Itoa(i)
			_, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: k, UUID: "u", Channels: []string{"c"}})
			require.NoError(t, err)
			_, err = e.Leave(ctx, LeaveRequest{SubKey: k, UUID: "u", Channels: []string{"c"}})
			require.NoError(t, err)
		}
		require.NoError(t, e.AddChannelsToGroup("groups-only", "g", "c"))
		mustBeat(t, e, hb("stays", "c"))
		assert.Equal(t, 102, e.keyspaces.Len())

		time.Sleep(DefaultInterval)
		synctest.Wait()
		assert.Equal(t, 2, e.keyspaces.Len(), "only the keyspaces holding something stay")
		chans, err := e.GroupChannels("groups-only", "g")
		require.NoError(t, err)
		assert.Equal(t, []string{"c"}, chans)
	})
}

// Joins racing the sweep of their keyspace are never lost: each worker owns
// its sub keys, so the last operation on a key says whether its uuid is
// present, while sweeps run every millisecond of virtual time.
func TestSweepRacesJoins(t *testing.T) {
	seed := stressSeed(t)
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{Interval: time.Millisecond})
		const workers, ops = 8, 300
		var mu sync.Mutex
		want := map[string]bool{} // sub key -> "u" present on "c"
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := range ops {
					k := "k" + strconv.Itoa(w) + "-" + strconv.Itoa(i%5)
					join := rng.IntN(2) == 0
					var err error
					if join {
						_, err = e.Heartbeat(ctx, HeartbeatRequest{SubKey: k, UUID: "u", Channels: []string{"c"}})
					} else {
						_, err = e.Leave(ctx, LeaveRequest{SubKey: k, UUID: "u", Channels: []string{"c"}})
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					want[k] = join
					mu.Unlock()
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		time.Sleep(5 * time.Millisecond) // more sweeps
		synctest.Wait()
		kept := 0
		for k, present := range want {
			n, err := e.Occupancy(k, "c")
			require.NoError(t, err)
			assert.Equal(t, present, n == 1, k)
			if present {
				kept++
			}
		}
		assert.Equal(t, kept, e.keyspaces.Len(), "empty keyspaces are gone, the others stay")
	})
}
