package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/events"
)

// world is the names a random engine is built from.
type world struct {
	subKeys, channels, uuids, groups []string
}

// newWorld returns names of every kind the engine accepts: short and long,
// ASCII and not, uuids past the 96 bytes a client record holds inline.
func newWorld(rng *rand.Rand) world {
	var w world
	for i := range 1 + rng.IntN(3) {
		w.subKeys = append(w.subKeys, fmt.Sprintf("sub-c-%d", i))
	}
	for i := range 2 + rng.IntN(12) {
		switch i % 4 {
		case 0:
			w.channels = append(w.channels, "room."+strconv.Itoa(i))
		case 1:
			w.channels = append(w.channels, "salle-é-"+strconv.Itoa(i))
		case 2:
			w.channels = append(w.channels, strings.Repeat("c", 80)+strconv.Itoa(i))
		default:
			w.channels = append(w.channels, "c"+strconv.Itoa(i))
		}
	}
	for i := range 2 + rng.IntN(40) {
		switch i % 5 {
		case 0:
			w.uuids = append(w.uuids, fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i))
		case 1:
			w.uuids = append(w.uuids, strings.Repeat("ü", 60)+strconv.Itoa(i)) // 120+ bytes: not inline
		case 2:
			w.uuids = append(w.uuids, "user "+strconv.Itoa(i)) // uuids may hold spaces
		default:
			w.uuids = append(w.uuids, "u"+strconv.Itoa(i))
		}
	}
	for i := range rng.IntN(4) {
		w.groups = append(w.groups, "g"+strconv.Itoa(i))
	}
	return w
}

func pick[T any](rng *rand.Rand, list []T) T { return list[rng.IntN(len(list))] }

// populate drives e with steps random calls, sleeping now and then in
// virtual time so that deadlines differ and some members time out.
func populate(t *testing.T, e *Engine, rng *rand.Rand, w world, steps int) {
	t.Helper()
	for range steps {
		subKey := pick(rng, w.subKeys)
		uuid := pick(rng, w.uuids)
		var chs []string
		for range 1 + rng.IntN(3) {
			chs = append(chs, pick(rng, w.channels))
		}
		switch op := rng.IntN(20); {
		case op < 12:
			r := HeartbeatRequest{SubKey: subKey, UUID: uuid, Channels: chs,
				Timeout: time.Duration(20+rng.IntN(3600)) * time.Second}
			if len(w.groups) > 0 && rng.IntN(4) == 0 {
				r.Groups = []string{pick(rng, w.groups)}
			}
			if rng.IntN(3) == 0 {
				r.State = map[string]json.RawMessage{chs[0]: raw(fmt.Sprintf(`{"n": %d, "s": "%s"}`, rng.IntN(100), strings.Repeat("x", rng.IntN(200))))}
			}
			_, err := e.Heartbeat(ctx, r)
			require.NoError(t, err)
		case op < 14:
			_, err := e.Leave(ctx, LeaveRequest{SubKey: subKey, UUID: uuid, Channels: chs})
			require.NoError(t, err)
		case op < 15:
			_, err := e.SetState(ctx, SetStateRequest{SubKey: subKey, UUID: uuid, Channels: chs[:1], State: raw(`{"set":true}`)})
			if err != nil {
				require.ErrorIs(t, err, ErrNotPresent)
			}
		case op < 17 && len(w.groups) > 0:
			require.NoError(t, e.AddChannelsToGroup(subKey, pick(rng, w.groups), chs...))
		case op < 18 && len(w.groups) > 0:
			require.NoError(t, e.RemoveChannelsFromGroup(subKey, pick(rng, w.groups), chs[0]))
		default:
			time.Sleep(time.Duration(rng.IntN(120_000)) * time.Millisecond)
		}
	}
}

// content is everything an engine shows of one sub key through its API.
type content struct {
	HereNow map[string]map[string]string // channel -> uuid -> state
	Where   map[string][]string          // uuid -> channels
	Groups  map[string][]string          // group -> channels
}

func contentOf(t *testing.T, e *Engine, subKey string, w world) content {
	t.Helper()
	c := content{HereNow: map[string]map[string]string{}, Where: map[string][]string{}, Groups: map[string][]string{}}
	res, err := e.HereNow(HereNowRequest{SubKey: subKey, State: true})
	require.NoError(t, err)
	for _, cp := range res.Channels {
		require.Len(t, cp.Members, cp.Occupancy, "a page holds the whole channel")
		set := map[string]string{}
		for _, m := range cp.Members {
			set[m.UUID] = string(m.State)
		}
		c.HereNow[cp.Channel] = set
	}
	for _, u := range w.uuids {
		where, err := e.WhereNow(subKey, u)
		require.NoError(t, err)
		if len(where) > 0 {
			c.Where[u] = where
		}
	}
	groups, err := e.Groups(subKey)
	require.NoError(t, err)
	for _, g := range groups {
		c.Groups[g], err = e.GroupChannels(subKey, g)
		require.NoError(t, err)
	}
	return c
}

// memberKey names a membership across engines.
type memberKey struct{ subKey, channel, uuid string }

// deadlinesOf returns the time each member of e has left.
func deadlinesOf(e *Engine) map[memberKey]time.Duration {
	out := map[memberKey]time.Duration{}
	now := e.wheel.Now()
	e.keyspaces.Range(func(ks *keyspace) bool {
		ks.channels.Range(func(ch *channel) bool {
			ch.mu.RLock()
			ch.eachMember(func(m *member) {
				out[memberKey{ks.name, ch.name, m.c.id()}] = time.Duration(m.deadline.Load() - now)
			})
			ch.mu.RUnlock()
			return true
		})
		return true
	})
	return out
}

// deltasOf returns the pending deltas of every channel of e in interval mode.
func deltasOf(e *Engine) map[memberKey]events.DeltasState {
	out := map[memberKey]events.DeltasState{}
	e.keyspaces.Range(func(ks *keyspace) bool {
		ks.channels.Range(func(ch *channel) bool {
			ch.mu.RLock()
			if ch.deltas != nil {
				out[memberKey{ks.name, ch.name, ""}] = ch.deltas.State()
			}
			ch.mu.RUnlock()
			return true
		})
		return true
	})
	return out
}

// snapshot writes e's snapshot and returns it.
func snapshot(t *testing.T, e *Engine) ([]byte, SnapshotInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := e.Snapshot(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), info.Bytes)
	return buf.Bytes(), info
}

// restore returns a new engine configured by cfg with snap restored into it,
// closed when the test ends.
func restore(t *testing.T, cfg Config, snap []byte) (*Engine, SnapshotInfo) {
	t.Helper()
	e := newEngine(t, cfg)
	info, err := e.Restore(bytes.NewReader(snap))
	require.NoError(t, err)
	return e, info
}

// TestSnapshotRoundTrip is the round-trip property: random engines, built by
// random calls in virtual time, restored from their snapshot into a new
// engine, show the same Here Now (with state), Where Now, groups, counts,
// channel modes and pending deltas, and every deadline within one tick (the
// same here, since virtual time stands still meanwhile). Then both engines
// run on side by side until everyone has timed out, and time out the same
// members. PRESENCE_SEED reproduces a run.
func TestSnapshotRoundTrip(t *testing.T) {
	seed := stressSeed(t)
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		cfg := Config{
			Tick:           pick(rng, []time.Duration{time.Second, 100 * time.Millisecond}),
			AnnounceMax:    pick(rng, []int{-1, 2, 20}),
			IntervalDeltas: rng.IntN(2) == 0,
			Interval:       pick(rng, []time.Duration{time.Second, time.Hour}),
		}
		t.Run(fmt.Sprintf("round=%d", round), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newEngine(t, cfg)
				w := newWorld(rng)
				populate(t, a, rng, w, 20+rng.IntN(300))
				// In a third of the rounds the engine is closed and saved
				// later, as on shutdown: deadlines pass meanwhile, and the
				// restore finds members overdue.
				want := map[string]content{}
				for _, subKey := range w.subKeys {
					want[subKey] = contentOf(t, a, subKey, w)
				}
				closed := rng.IntN(3) == 0
				if closed {
					require.NoError(t, a.Close())
					time.Sleep(time.Duration(rng.IntN(600)) * time.Second)
				}

				snap, info := snapshot(t, a)
				b, rinfo := restore(t, cfg, snap)
				var recA *recorder
				if !closed {
					recA = record(t, a, events.Filter{})
				}
				recB := record(t, b, events.Filter{})

				for _, subKey := range w.subKeys {
					require.Equal(t, want[subKey], contentOf(t, b, subKey, w), "sub key %s", subKey)
				}
				sa, sb := a.Stats(), b.Stats()
				assert.Equal(t, sa.Members, sb.Members)
				assert.Equal(t, sa.Channels, sb.Channels)
				assert.Equal(t, sa.UUIDs, sb.UUIDs)
				assert.Equal(t, uint64(sa.Members), sb.Restored)
				assert.Zero(t, sb.Joins, "restored members did not join")
				assert.Equal(t, int(sa.Members), info.Members)
				assert.Equal(t, int(sa.Members), rinfo.Members)
				assert.Equal(t, int(sa.UUIDs), rinfo.UUIDs)

				da, db := deadlinesOf(a), deadlinesOf(b)
				require.Len(t, db, len(da))
				for k, left := range da {
					assert.InDelta(t, float64(left), float64(db[k]), float64(cfg.Tick), "%v", k)
				}
				assert.Equal(t, deltasOf(a), deltasOf(b), "channel modes and pending deltas")

				// The restored engine's events come after the original's.
				lastA := a.bus.LastTimetoken()

				// Both run on; each member times out in both, at the same
				// time within a tick (their wheels' slots may be offset).
				time.Sleep(a.Config().MaxTimeout + 2*cfg.Tick)
				synctest.Wait()
				timeouts := func(evs []events.Event) map[memberKey]time.Time {
					out := map[memberKey]time.Time{}
					for _, ev := range evs {
						if ev.Action == events.Timeout {
							out[memberKey{ev.SubKey, ev.Channel, ev.UUID}] = ev.Time
						}
					}
					return out
				}
				evB := recB.take()
				for _, ev := range evB {
					require.Greater(t, ev.Timetoken, lastA, "%s %s %s", ev.Action, ev.Channel, ev.UUID)
					require.NotEqual(t, events.Join, ev.Action)
				}
				if closed {
					// The overdue time out within a tick of the restore,
					// each once; the others after it.
					tb := timeouts(evB)
					restored := time.Now().Add(-(a.Config().MaxTimeout + 2*cfg.Tick))
					overdue := 0
					for k, left := range db {
						at, ok := tb[k]
						if cfg.AnnounceMax < 0 {
							require.True(t, ok, "%v timed out", k)
						}
						if left <= 0 {
							overdue++
							if ok {
								assert.LessOrEqual(t, at.Sub(restored), cfg.Tick+time.Millisecond, "%v", k)
							}
						}
					}
					assert.Equal(t, overdue, rinfo.Overdue)
				} else if cfg.AnnounceMax < 0 {
					evA := recA.take()
					ta, tb := timeouts(evA), timeouts(evB)
					require.Len(t, tb, len(ta))
					for k, at := range ta {
						assert.InDelta(t, 0, float64(at.Sub(tb[k])), float64(cfg.Tick+time.Millisecond), "%v", k)
					}
				}
				if !closed {
					assert.Zero(t, a.Stats().Members)
				}
				assert.Zero(t, b.Stats().Members)
			})
		})
	}
}

// TestRestoreAfterDowntime saves an engine, leaves five minutes of virtual
// time before the restore, and checks time across the gap: the member whose
// deadline passed meanwhile times out right after the restore, once; the
// others keep the time they had left; nobody joins; a heartbeat is a
// refresh; timetokens move on from where they were.
func TestRestoreAfterDowntime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tick = time.Second
		a := newEngine(t, Config{Tick: tick})
		record(t, a, events.Filter{}) // events are published, with timetokens
		beat := func(uuid string, timeout time.Duration, channels ...string) {
			r := hb(uuid, channels...)
			r.Timeout = timeout
			r.State = map[string]json.RawMessage{channels[0]: raw(`{"who":"` + uuid + `"}`)}
			mustBeat(t, a, r)
		}
		beat("alice", time.Minute, "lobby")
		beat("bob", 10*time.Minute, "lobby")
		beat("carol", time.Hour, "lobby", "hall")
		require.NoError(t, a.AddChannelsToGroup(sk, "floor", "lobby", "hall"))
		time.Sleep(30 * time.Second)

		snap, _ := snapshot(t, a)
		lastTT := a.bus.LastTimetoken()
		require.Positive(t, lastTT)
		saved := time.Now()
		require.NoError(t, a.Close())

		time.Sleep(5 * time.Minute) // the process is down

		b := newEngine(t, Config{Tick: tick})
		rec := record(t, b, events.Filter{})
		info, err := b.Restore(bytes.NewReader(snap))
		require.NoError(t, err)
		restored := time.Now()
		assert.Equal(t, 4, info.Members)
		assert.Equal(t, 1, info.Overdue, "alice's deadline passed while the process was down")
		assert.Equal(t, saved.Truncate(0).UTC(), info.Taken.UTC())

		// Alice times out at once (within a tick), with one event and the
		// state she had; nothing else happens.
		time.Sleep(tick + time.Millisecond)
		synctest.Wait()
		evs := rec.take()
		assert.Equal(t, []brief{{events.Timeout, "lobby", "alice", 2, `{"who":"alice"}`}}, briefs(evs))
		for _, ev := range evs {
			assert.Greater(t, ev.Timetoken, lastTT)
		}
		here := hereNow(t, b)
		assert.Len(t, here, 2)
		assert.ElementsMatch(t, []string{"bob", "carol"}, here["lobby"])
		assert.Equal(t, []string{"carol"}, here["hall"])
		chans, err := b.GroupChannels(sk, "floor")
		require.NoError(t, err)
		assert.Equal(t, []string{"hall", "lobby"}, chans)

		// Carol's heartbeat is a refresh: no join, no event.
		r := hb("carol", "lobby", "hall")
		r.Timeout = time.Hour
		assert.Nil(t, mustBeat(t, b, r).Joined)
		synctest.Wait()
		assert.Empty(t, rec.take())

		// Bob keeps the time he had left: 9.5 minutes at the snapshot, 4.5
		// after the downtime.
		bobDue := saved.Add(10*time.Minute - 30*time.Second)
		require.Equal(t, restored.Add(4*time.Minute+30*time.Second), bobDue)
		at, ev := waitTimeout(t, rec, "bob", 10*time.Minute)
		assert.False(t, at.Before(bobDue), "bob timed out %v early", bobDue.Sub(at))
		assert.LessOrEqual(t, at.Sub(bobDue), tick+time.Millisecond)
		assert.Equal(t, `{"who":"bob"}`, string(ev.State))

		st := b.Stats()
		assert.Equal(t, uint64(4), st.Restored)
		assert.Equal(t, uint64(2), st.Timeouts)
		assert.Zero(t, st.Joins)
		assert.Equal(t, int64(2), st.Members)
	})
}

// TestRestoreTimetokensAfterClockStep restores on a wall clock two hours
// behind the one that saved: the timetokens still move forward, and the
// members keep at most MaxTimeout.
func TestRestoreTimetokensAfterClockStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newEngine(t, Config{})
		record(t, a, events.Filter{})
		r := hb("alice", "lobby")
		r.Timeout = 10 * time.Minute
		mustBeat(t, a, r)
		mustBeat(t, a, hb("bob", "lobby"))
		snap, _ := snapshot(t, a)
		lastTT := a.bus.LastTimetoken()
		require.Positive(t, lastTT)

		behind := func() time.Time { return time.Now().Add(-2 * time.Hour) }
		b, info := restore(t, Config{Now: behind, MaxTimeout: 30 * time.Minute}, snap)
		assert.Zero(t, info.Overdue)
		for k, left := range deadlinesOf(b) {
			assert.Equal(t, 30*time.Minute, left, "%v: clamped to MaxTimeout", k)
		}
		rec := record(t, b, events.Filter{})
		_, err := b.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "bob", Channels: []string{"lobby"}})
		require.NoError(t, err)
		synctest.Wait()
		evs := rec.take()
		require.Len(t, evs, 1)
		assert.Greater(t, evs[0].Timetoken, lastTT, "a timetoken after the restore is above every one before")
		assert.Less(t, evs[0].Timetoken, lastTT+int64(time.Second/100), "and only just")
	})
}

// TestRestoreIntervalMode restores a channel in interval mode with deltas
// pending: its next interval event lists them, as the original's would.
// Restored into an engine with a higher AnnounceMax, the pending deltas go
// out at once and the channel announces again.
func TestRestoreIntervalMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{AnnounceMax: 2, IntervalDeltas: true, Interval: 10 * time.Minute}
		a := newEngine(t, cfg)
		for _, u := range []string{"u1", "u2", "u3", "u4"} {
			r := hb(u, "busy")
			r.Timeout = time.Hour
			mustBeat(t, a, r)
		}
		_, err := a.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "u4", Channels: []string{"busy"}})
		require.NoError(t, err)
		snap, _ := snapshot(t, a)

		b, _ := restore(t, cfg, snap)
		rec := record(t, b, events.Filter{})

		higher := cfg
		higher.AnnounceMax = 10
		c := newEngine(t, higher)
		recC := record(t, c, events.Filter{})
		_, err = c.Restore(bytes.NewReader(snap))
		require.NoError(t, err)
		synctest.Wait()
		evs := recC.take()
		require.Len(t, evs, 1, "the pending deltas, at once")
		assert.Equal(t, events.Interval, evs[0].Action)
		assert.Equal(t, []string{"u3", "u4"}, evs[0].Joined)
		mustBeat(t, c, hb("u5", "busy"))
		synctest.Wait()
		assert.Equal(t, []brief{{events.Join, "busy", "u5", 4, ""}}, briefs(recC.take()), "announce mode")

		// b stays in interval mode: its first interval event lists what
		// was pending.
		time.Sleep(cfg.Interval)
		synctest.Wait()
		evs = rec.take()
		require.NotEmpty(t, evs)
		assert.Equal(t, events.Interval, evs[0].Action)
		assert.Equal(t, 3, evs[0].Occupancy)
		assert.Equal(t, []string{"u3", "u4"}, evs[0].Joined, "u3 and u4 joined past the announce max, before the snapshot")
		assert.Equal(t, []string{"u4"}, evs[0].Left)
	})
}

// TestRestoreMaxMembers: restored members count against MaxMembers.
func TestRestoreMaxMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newEngine(t, Config{})
		mustBeat(t, a, hb("alice", "lobby", "hall"))
		snap, _ := snapshot(t, a)
		b, _ := restore(t, Config{MaxMembers: 3}, snap)
		mustBeat(t, b, hb("bob", "lobby"))
		_, err := b.Heartbeat(ctx, hb("carol", "lobby"))
		require.ErrorIs(t, err, ErrCapacity)
	})
}

// TestSnapshotAfterClose: a closed engine keeps what it held and still
// writes it, exactly, with the members whose deadline passed since Close.
func TestSnapshotAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newEngine(t, Config{})
		r := hb("alice", "lobby")
		r.Timeout = time.Minute
		mustBeat(t, a, r)
		mustBeat(t, a, hb("bob", "lobby"))
		require.NoError(t, a.AddChannelsToGroup(sk, "g", "lobby"))
		require.NoError(t, a.Close())
		_, err := a.Heartbeat(ctx, hb("carol", "lobby"))
		require.ErrorIs(t, err, ErrClosed)

		time.Sleep(2 * time.Minute) // alice's deadline passes, and nothing expires her
		snap, info := snapshot(t, a)
		assert.Equal(t, 2, info.Members)
		b, rinfo := restore(t, Config{}, snap)
		assert.Equal(t, 1, rinfo.Overdue)
		time.Sleep(DefaultTick + time.Millisecond)
		synctest.Wait()
		w := world{uuids: []string{"alice", "bob"}}
		assert.Equal(t, content{
			HereNow: map[string]map[string]string{"lobby": {"bob": ""}},
			Where:   map[string][]string{"bob": {"lobby"}},
			Groups:  map[string][]string{"g": {"lobby"}},
		}, contentOf(t, b, sk, w), "alice timed out right after the restore")
		_, err = b.Restore(bytes.NewReader(snap))
		require.ErrorIs(t, err, ErrNotEmpty)
		require.NoError(t, b.Close())
		_, err = b.Restore(bytes.NewReader(snap))
		require.ErrorIs(t, err, ErrClosed)
	})
}

// TestSnapshotEmpty: an engine with nothing writes a snapshot that restores
// to nothing.
func TestSnapshotEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newEngine(t, Config{})
		snap, info := snapshot(t, a)
		assert.Zero(t, info.Members)
		b, rinfo := restore(t, Config{}, snap)
		assert.Equal(t, info.Bytes, rinfo.Bytes)
		assert.Zero(t, b.Stats())
	})
}

// TestSnapshotConsistency takes snapshots while other goroutines join, leave
// and change state on the same channels, and checks the consistency the
// documentation promises: a member present for the whole snapshot is in it,
// once, with a state it had; nothing is in it that was never present. The
// channels' lists are copied whole, and in chunks of 64 members.
func TestSnapshotConsistency(t *testing.T) {
	for _, copyChunk := range []int{snapCopyChunk, 64} {
		t.Run("copy-chunk="+strconv.Itoa(copyChunk), func(t *testing.T) { testSnapshotConsistency(t, copyChunk) })
	}
}

func testSnapshotConsistency(t *testing.T, copyChunk int) {
	const channels, stablePer, churners, churnUUIDs = 4, 1000, 3, 500
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{AnnounceMax: -1})
		chName := func(i int) string { return "c" + strconv.Itoa(i%channels) }
		// Churners first, so that the stable members are at the end of each
		// channel's list and the churn's holes and joins at its front, which
		// a chunked copy reaches last. (This churn never leaves more holes
		// than members, so no member moves; a list tidied by moving members
		// from its end is TestSnapshotCopiesLongListsFromTheEnd's.)
		for i := range churnUUIDs {
			for c := range channels {
				mustBeat(t, e, hb("churn-"+strconv.Itoa(i), chName(c)))
			}
		}
		for i := range channels * stablePer {
			r := hb("stable-"+strconv.Itoa(i), chName(i))
			r.State = map[string]json.RawMessage{chName(i): raw(`{"v":-1}`)}
			mustBeat(t, e, r)
		}

		var stop atomic.Bool
		errs := make(chan error, churners)
		var wg sync.WaitGroup
		for w := range churners {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for !stop.Load() {
					n := rng.IntN(channels * stablePer)
					var err error
					switch rng.IntN(3) {
					case 0: // a churner joins or leaves the stable member's channel
						u := "churn-" + strconv.Itoa(rng.IntN(churnUUIDs))
						if rng.IntN(2) == 0 {
							_, err = e.Heartbeat(ctx, hb(u, chName(n)))
						} else {
							_, err = e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: u, Channels: []string{chName(n)}})
						}
					case 1: // a stable member changes its state
						_, err = e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "stable-" + strconv.Itoa(n), Channels: []string{chName(n)},
							State: raw(`{"v":` + strconv.Itoa(rng.IntN(10)) + `}`)})
					default: // and heartbeats
						_, err = e.Heartbeat(ctx, hb("stable-"+strconv.Itoa(n), chName(n)))
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}

		for range 6 {
			var buf bytes.Buffer
			_, err := e.snapshot(&buf, snapOptions{copyChunk: copyChunk})
			require.NoError(t, err)
			snap := buf.Bytes()
			b := newEngine(t, Config{AnnounceMax: -1})
			_, err = b.Restore(bytes.NewReader(snap))
			require.NoError(t, err)
			res, err := b.HereNow(HereNowRequest{SubKey: sk, State: true, Limit: DefaultHereNowLimit})
			require.NoError(t, err)
			stable := 0
			for _, cp := range res.Channels {
				for off := 0; off < cp.Occupancy; off += DefaultHereNowLimit {
					page, err := b.HereNow(HereNowRequest{SubKey: sk, Channels: []string{cp.Channel}, State: true, Offset: off})
					require.NoError(t, err)
					for _, m := range page.Channels[0].Members {
						switch {
						case strings.HasPrefix(m.UUID, "stable-"):
							i, err := strconv.Atoi(strings.TrimPrefix(m.UUID, "stable-"))
							require.NoError(t, err)
							require.Equal(t, chName(i), cp.Channel, "%s on the channel it was on", m.UUID)
							require.Regexp(t, `^\{"v":-?\d\}$`, string(m.State), "a state %s had", m.UUID)
							stable++
						case strings.HasPrefix(m.UUID, "churn-"):
						default:
							t.Fatalf("%s on %s was never present", m.UUID, cp.Channel)
						}
					}
				}
			}
			require.Equal(t, channels*stablePer, stable, "every member present for the whole snapshot is in it")
			require.NoError(t, b.Close())
		}
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

// TestSnapshotCopiesLongListsFromTheEnd copies a channel's list in chunks
// while, between chunks, members leave from the front of the list, not
// copied yet, and new ones join. Once holes outnumber members, each leave
// tidies the list by moving members from its end, copied already, into
// holes at the front, where the copy reaches them again: every member
// present throughout is in the snapshot, once.
func TestSnapshotCopiesLongListsFromTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{AnnounceMax: -1})
		const churn, stable, perChunk = 300, 100, 30
		for i := range churn {
			mustBeat(t, e, hb("churn-"+strconv.Itoa(i), "c"))
		}
		for i := range stable {
			mustBeat(t, e, hb("stable-"+strconv.Itoa(i), "c"))
		}
		left, joined, chunks := 0, 0, 0
		var buf bytes.Buffer
		_, err := e.snapshot(&buf, snapOptions{copyChunk: 16, between: func() {
			chunks++
			for range perChunk {
				if left == churn {
					break
				}
				_, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "churn-" + strconv.Itoa(left), Channels: []string{"c"}})
				require.NoError(t, err)
				left++
			}
			mustBeat(t, e, hb("new-"+strconv.Itoa(joined), "c"))
			joined++
		}})
		require.NoError(t, err)
		require.Greater(t, chunks, 10)

		// The test is only worth its name if stable members, at the end of
		// the list and copied first, moved to the front meanwhile.
		ch := e.keyspace(sk, false).channels.Get("c")
		moved := 0
		ch.mu.RLock()
		ch.eachMember(func(m *member) {
			if strings.HasPrefix(m.c.id(), "stable-") && m.idx < churn {
				moved++
			}
		})
		ch.mu.RUnlock()
		require.Positive(t, moved, "no stable member moved into a hole")

		b := newEngine(t, Config{AnnounceMax: -1})
		_, err = b.Restore(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err, "no member twice")
		got := hereNow(t, b)["c"]
		for i := range stable {
			require.Contains(t, got, "stable-"+strconv.Itoa(i))
		}
		for _, u := range got {
			require.Regexp(t, `^(stable|churn|new)-\d+$`, u)
		}
	})
}
