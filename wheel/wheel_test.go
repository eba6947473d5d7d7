package wheel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// delivery is one item handed to expire.
type delivery struct {
	slot Slot
	now  int64
}

// recorder collects what expire hands over. Its expire is safe for concurrent
// use; problems seen inside expire are kept in errs rather than failing the
// test from a worker goroutine.
type recorder struct {
	tick  int64
	limit int // BatchSize in force

	mu      sync.Mutex
	got     map[int][]delivery
	batches int
	errs    []string
	then    func(Batch[int]) // optional, runs after recording, no lock held
}

func newRecorder(cfg Config) *recorder {
	cfg, err := cfg.withDefaults()
	if err != nil {
		panic(err)
	}
	return &recorder{tick: int64(cfg.Tick), limit: cfg.BatchSize, got: make(map[int][]delivery)}
}

func (r *recorder) expire(b Batch[int]) {
	r.mu.Lock()
	r.batches++
	if len(b.Items) == 0 || len(b.Items) > r.limit {
		r.errs = append(r.errs, fmt.Sprintf("slot %d: batch of %d items, limit %d", b.Slot, len(b.Items), r.limit))
	}
	if b.Now < int64(b.Slot)*r.tick {
		r.errs = append(r.errs, fmt.Sprintf("slot %d handed over early at %d", b.Slot, b.Now))
	}
	for _, v := range b.Items {
		r.got[v] = append(r.got[v], delivery{slot: b.Slot, now: b.Now})
	}
	r.mu.Unlock()
	if r.then != nil {
		r.then(b)
	}
}

// snapshot returns a copy of the deliveries so far and the errors seen.
func (r *recorder) snapshot() (map[int][]delivery, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := make(map[int][]delivery, len(r.got))
	for k, v := range r.got {
		got[k] = append([]delivery(nil), v...)
	}
	return got, append([]string(nil), r.errs...)
}

func newWheel(t *testing.T, cfg Config, expire func(Batch[int])) *Wheel[int] {
	t.Helper()
	w, err := New(cfg, expire)
	require.NoError(t, err)
	t.Cleanup(w.Close)
	return w
}

// requireOnce checks that items 0..n-1 were each delivered exactly once.
func requireOnce(t *testing.T, rec *recorder, n int) map[int][]delivery {
	t.Helper()
	got, errs := rec.snapshot()
	require.Empty(t, errs)
	require.Len(t, got, n)
	for i := range n {
		require.Len(t, got[i], 1, "item %d", i)
	}
	return got
}

func TestNeverEarlyAtMostOneTickLate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		slack   time.Duration // timer resolution on top of one Tick
		items   int
		horizon int // deadlines up to this many ticks ahead
	}{
		{name: "tick=1ms", cfg: Config{Tick: time.Millisecond}, items: 5000, horizon: 300},
		{name: "tick=10ms/workers=1", cfg: Config{Tick: 10 * time.Millisecond, Workers: 1}, items: 5000, horizon: 100},
		{name: "tick=1s/default", cfg: Config{}, items: 5000, horizon: 60},
		{name: "tick=1.5ms", cfg: Config{Tick: 1500 * time.Microsecond}, slack: time.Millisecond, items: 5000, horizon: 200},
		{name: "tick=7ms/batch=3", cfg: Config{Tick: 7 * time.Millisecond, BatchSize: 3}, items: 2000, horizon: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder(tt.cfg)
				w := newWheel(t, tt.cfg, rec.expire)
				tick := int64(w.Tick())
				rng := rand.New(rand.NewPCG(1, uint64(tick)))
				deadlines := make([]int64, tt.items)
				for i := range deadlines {
					if i%50 == 49 {
						time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
					}
					deadlines[i] = w.Now() + rng.Int64N(int64(tt.horizon)*tick)
					w.Schedule(i, deadlines[i])
				}
				time.Sleep(time.Duration(int64(tt.horizon+2)*tick) + tt.slack)
				synctest.Wait()

				got := requireOnce(t, rec, tt.items)
				for i, at := range deadlines {
					fired := got[i][0].now
					require.GreaterOrEqual(t, fired, at, "item %d fired early", i)
					require.LessOrEqual(t, fired-at, tick+int64(tt.slack), "item %d fired late", i)
					require.Equal(t, w.SlotFor(at), got[i][0].slot, "item %d", i)
				}
				assert.Zero(t, w.Len())
			})
		})
	}
}

func TestLargeSlotInBatches(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "batch=default/workers=4", cfg: Config{Tick: 10 * time.Millisecond, Workers: 4}},
		{name: "batch=1000/workers=1", cfg: Config{Tick: 10 * time.Millisecond, Workers: 1, BatchSize: 1000}},
		{name: "batch=chunk/workers=3", cfg: Config{Tick: 10 * time.Millisecond, Workers: 3, BatchSize: chunkSize}},
		{name: "batch=100/workers=2", cfg: Config{Tick: 10 * time.Millisecond, Workers: 2, BatchSize: 100}},
		{name: "batch=1/workers=4", cfg: Config{Tick: 10 * time.Millisecond, Workers: 4, BatchSize: 1}},
		{name: "batch=1M/workers=2", cfg: Config{Tick: 10 * time.Millisecond, Workers: 2, BatchSize: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder(tt.cfg)
				w := newWheel(t, tt.cfg, rec.expire)
				at := w.Now() + 25*int64(time.Millisecond)
				k := w.SlotFor(at)
				for i := range n {
					require.Equal(t, k, w.Schedule(i, at))
				}
				assert.Equal(t, n, w.Len())
				assert.EqualValues(t, 1, w.armed.Load())

				time.Sleep(30 * time.Millisecond)
				synctest.Wait()

				got := requireOnce(t, rec, n)
				for i := range n {
					require.Equal(t, k, got[i][0].slot)
				}
				rec.mu.Lock()
				batches := rec.batches
				rec.mu.Unlock()
				assert.GreaterOrEqual(t, batches, (n+rec.limit-1)/rec.limit)
				assert.Zero(t, w.Len())
			})
		})
	}
}

func TestPastSlotsFirePromptly(t *testing.T) {
	const tick = 10 * time.Millisecond
	tests := []struct {
		name string
		at   func(now int64, i int) int64
	}{
		{name: "deadline long past", at: func(now int64, _ int) int64 { return now - 5*int64(tick) }},
		{name: "deadline now", at: func(now int64, _ int) int64 { return now }},
		{name: "deadline zero", at: func(int64, int) int64 { return 0 }},
		{name: "deadline negative", at: func(int64, int) int64 { return math.MinInt64 }},
		{name: "1000 distinct past slots", at: func(now int64, i int) int64 { return now - int64(i)*int64(tick) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{Tick: tick}
				rec := newRecorder(cfg)
				w := newWheel(t, cfg, rec.expire)
				time.Sleep(2000 * tick) // now is a slot boundary
				now := w.Now()
				for i := range 1000 {
					w.Schedule(i, tt.at(now, i))
				}
				synctest.Wait() // no time passes

				got := requireOnce(t, rec, 1000)
				for i := range 1000 {
					require.Equal(t, now, got[i][0].now)
				}
				assert.Zero(t, w.armed.Load(), "a past slot needs no timer")
			})
		})
	}
}

func TestScheduleFromExpire(t *testing.T) {
	const tick = 10 * time.Millisecond
	tests := []struct {
		name  string
		again func(b Batch[int], w *Wheel[int]) int64 // deadline of the second round
		late  int64                                   // second round fires this long after the first
	}{
		{
			name:  "same slot while it is handed over",
			again: func(b Batch[int], w *Wheel[int]) int64 { return int64(b.Slot) * int64(tick) },
		},
		{
			name:  "past deadline",
			again: func(b Batch[int], w *Wheel[int]) int64 { return 0 },
		},
		{
			name:  "future slot",
			again: func(b Batch[int], w *Wheel[int]) int64 { return b.Now + 3*int64(tick) },
			late:  3 * int64(tick),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 3000
				cfg := Config{Tick: tick, BatchSize: 100, Workers: 2}
				rec := newRecorder(cfg)
				var w *Wheel[int]
				rec.then = func(b Batch[int]) {
					for _, v := range b.Items {
						if v < n { // first round: schedule again as a new item
							w.Schedule(v+n, tt.again(b, w))
						}
					}
				}
				w = newWheel(t, cfg, rec.expire)
				at := 5 * int64(tick)
				for i := range n {
					w.Schedule(i, at)
				}
				time.Sleep(time.Duration(at + 5*int64(tick)))
				synctest.Wait()

				got := requireOnce(t, rec, 2*n)
				for i := range n {
					require.Equal(t, at, got[i][0].now)
					require.Equal(t, at+tt.late, got[i+n][0].now, "item %d", i)
				}
				assert.Zero(t, w.Len())
			})
		})
	}
}

func TestOneTimerPerSlot(t *testing.T) {
	tests := []struct {
		name         string
		slots, items int
	}{
		{name: "slots=1/items=1", slots: 1, items: 1},
		{name: "slots=1/items=10k", slots: 1, items: 10_000},
		{name: "slots=10/items=10k", slots: 10, items: 10_000},
		{name: "slots=600/items=60k", slots: 600, items: 60_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{Tick: 100 * time.Millisecond}
				rec := newRecorder(cfg)
				w := newWheel(t, cfg, rec.expire)
				tick := int64(w.Tick())
				distinct := make(map[Slot]bool)
				for i := range tt.items {
					// Deadlines anywhere inside a slot, including its upper edge.
					k := int64(1 + i%tt.slots)
					at := k*tick - int64(i%3)*tick/3
					distinct[w.Schedule(i, at)] = true
				}
				require.Len(t, distinct, tt.slots)
				assert.EqualValues(t, tt.slots, w.armed.Load())

				time.Sleep(time.Duration(int64(tt.slots+1) * tick))
				synctest.Wait()
				requireOnce(t, rec, tt.items)
				assert.EqualValues(t, tt.slots, w.armed.Load(), "no timer fired early")
			})
		})
	}
}

func TestFarSlotRearms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Tick: time.Second}
		rec := newRecorder(cfg)
		w := newWheel(t, cfg, rec.expire)
		at := int64(30 * time.Hour)
		w.Schedule(0, at)

		time.Sleep(30*time.Hour - time.Millisecond)
		synctest.Wait()
		got, _ := rec.snapshot()
		require.Empty(t, got, "fired before its deadline")
		assert.EqualValues(t, 2, w.armed.Load(), "capped at maxArm, then re-armed")

		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		got = requireOnce(t, rec, 1)
		assert.Equal(t, at, got[0][0].now)
	})
}

// TestEarlyFire fires a slot's callback before the slot's time, as RussellLuo
// does when the wall clock steps: nothing is handed over early, the slot waits
// on a runtime timer, and the real timer firing later finds nothing to do.
func TestEarlyFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Tick: 10 * time.Millisecond}
		rec := newRecorder(cfg)
		w := newWheel(t, cfg, rec.expire)
		at := int64(50 * time.Millisecond)
		k := w.Schedule(0, at)
		w.Schedule(1, at)

		w.wg.Add(1) // as arm does for a timer
		w.fire(k)
		synctest.Wait()
		got, _ := rec.snapshot()
		require.Empty(t, got, "handed over early")
		assert.EqualValues(t, 2, w.armed.Load(), "RussellLuo timer and runtime retry")

		time.Sleep(time.Duration(at) + time.Millisecond)
		synctest.Wait()
		got = requireOnce(t, rec, 2)
		assert.Equal(t, at, got[0][0].now)
		assert.Zero(t, w.Len())
	})
}

func TestConcurrentSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			goroutines = 8
			perG       = 5000
			tick       = 5 * time.Millisecond
		)
		cfg := Config{Tick: tick, Workers: 4, BatchSize: 64}
		rec := newRecorder(cfg)
		w := newWheel(t, cfg, rec.expire)
		deadlines := make([]int64, goroutines*perG)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for j := range perG {
					id := g*perG + j
					deadlines[id] = w.Now() + rng.Int64N(20*int64(tick))
					w.Schedule(id, deadlines[id])
					if j%40 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		time.Sleep(21 * tick)
		synctest.Wait()

		got := requireOnce(t, rec, goroutines*perG)
		for id, at := range deadlines {
			require.GreaterOrEqual(t, got[id][0].now, at, "item %d fired early", id)
			require.LessOrEqual(t, got[id][0].now-at, int64(tick), "item %d fired late", id)
		}
		assert.Zero(t, w.Len())
	})
}

func TestLen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Tick: 10 * time.Millisecond}
		w := newWheel(t, cfg, func(Batch[int]) {})
		assert.Zero(t, w.Len())
		for i := range 500 {
			w.Schedule(i, int64(10+i%3*10)*int64(time.Millisecond))
		}
		assert.Equal(t, 500, w.Len())
		time.Sleep(15 * time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 333, w.Len(), "slot 1 handed over, slots 2 and 3 held")
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		assert.Zero(t, w.Len())
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		nilFn   bool
		wantErr string // empty: valid
		tick    time.Duration
	}{
		{name: "zero", cfg: Config{}, tick: time.Second},
		{name: "tick=1ms", cfg: Config{Tick: time.Millisecond}, tick: time.Millisecond},
		{name: "tick=1.5ms", cfg: Config{Tick: 1500 * time.Microsecond}, tick: 1500 * time.Microsecond},
		{name: "tick below 1ms", cfg: Config{Tick: 500 * time.Microsecond}, wantErr: "Tick 500µs is below 1ms"},
		{name: "tick negative", cfg: Config{Tick: -time.Second}, wantErr: "Tick -1s is below 1ms"},
		{name: "workers negative", cfg: Config{Workers: -1}, wantErr: "Workers -1 is negative"},
		{name: "batch negative", cfg: Config{BatchSize: -2}, wantErr: "BatchSize -2 is negative"},
		{name: "expire nil", nilFn: true, wantErr: "expire is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expire := func(Batch[int]) {}
			if tt.nilFn {
				expire = nil
			}
			w, err := New(tt.cfg, expire)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, w)
				return
			}
			require.NoError(t, err)
			defer w.Close()
			assert.Equal(t, tt.tick, w.Tick())
		})
	}
}

func TestSlotFor(t *testing.T) {
	const tick = 10 * time.Millisecond
	ms := int64(time.Millisecond)
	tests := []struct {
		name string
		at   int64
		want Slot
	}{
		{name: "min", at: math.MinInt64, want: 1},
		{name: "negative", at: -1, want: 1},
		{name: "zero", at: 0, want: 1},
		{name: "one ns", at: 1, want: 1},
		{name: "upper edge", at: 10 * ms, want: 1},
		{name: "past edge", at: 10*ms + 1, want: 2},
		{name: "middle", at: 25 * ms, want: 3},
		{name: "max", at: math.MaxInt64, want: Slot(math.MaxInt64/(10*ms) + 1)},
	}
	synctest.Test(t, func(t *testing.T) {
		w := newWheel(t, Config{Tick: tick}, func(Batch[int]) {})
		for _, tt := range tests {
			k := w.SlotFor(tt.at)
			assert.Equal(t, tt.want, k, tt.name)
			assert.GreaterOrEqual(t, w.slotTime(k), tt.at, "%s: slot time before deadline", tt.name)
		}
	})
}

func TestNowMonotonic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWheel(t, Config{}, func(Batch[int]) {})
		assert.Zero(t, w.Now())
		time.Sleep(1500 * time.Millisecond)
		assert.Equal(t, int64(1500*time.Millisecond), w.Now())
	})
}

func TestScheduleAllocs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWheel(t, Config{}, func(Batch[int]) {})
		at := int64(time.Hour)
		i := 0
		allocs := testing.AllocsPerRun(10_000, func() {
			w.Schedule(i, at+int64(i%2)*int64(time.Minute))
			i++
		})
		assert.Zero(t, allocs)
	})
}

// TestLateRussellLuo stands for a backward step of the wall clock, after which
// RussellLuo fires late by the step: with no RussellLuo timer at all, every
// slot still fires within one extra Tick, on the backstop.
func TestLateRussellLuo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Tick: 10 * time.Millisecond}
		rec := newRecorder(cfg)
		w := newWheel(t, cfg, rec.expire)
		w.noRussell = true
		at := int64(45 * time.Millisecond)
		w.Schedule(0, at)

		time.Sleep(time.Duration(at) + cfg.Tick)
		synctest.Wait()
		got, _ := rec.snapshot()
		require.Empty(t, got, "fired without RussellLuo before the backstop")

		time.Sleep(cfg.Tick)
		synctest.Wait()
		got = requireOnce(t, rec, 1)
		assert.Equal(t, int64(60*time.Millisecond), got[0][0].now, "slot time plus one Tick")
		assert.Zero(t, w.armed.Load())
	})
}
