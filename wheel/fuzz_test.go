package wheel

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// FuzzWheel schedules items at random deadlines, in random steps of virtual
// time, some from inside expire, and checks that every item is handed over
// exactly once, never before its deadline and at most one Tick (plus 1ms of
// timer resolution) after it.
// Each pair of input bytes is an op: the first byte picks a deadline offset
// (in Tick/8 steps, up to 32 Ticks ahead, or one already past), the second how
// far to advance the clock afterwards.
func FuzzWheel(f *testing.F) {
	f.Add([]byte{0, 0}, uint8(1))
	f.Add([]byte{255, 3, 17, 0, 17, 0, 200, 40}, uint8(3))
	f.Add([]byte{1, 255, 2, 254, 3, 253}, uint8(0))
	f.Fuzz(func(t *testing.T, ops []byte, tickMs uint8) {
		if len(ops) > 512 {
			ops = ops[:512]
		}
		tick := time.Duration(1+tickMs%50) * time.Millisecond
		synctest.Test(t, func(t *testing.T) {
			cfg := Config{Tick: tick, BatchSize: 3}
			rec := newRecorder(cfg)
			w := newWheel(t, cfg, rec.expire)
			var mu sync.Mutex
			dues := map[int]int64{}
			setDue := func(id int, due int64) {
				mu.Lock()
				dues[id] = due
				mu.Unlock()
			}
			// Every item whose key is a multiple of 5 schedules a follow-up
			// item from inside expire, due half a tick later.
			next := 0
			rec.then = func(b Batch[int]) {
				for _, v := range b.Items {
					if v%5 == 0 && v < 10000 {
						due := w.Now() + int64(tick)/2
						setDue(10000+v, due)
						w.Schedule(10000+v, due)
					}
				}
			}
			for i := 0; i+1 < len(ops); i += 2 {
				off := (int64(ops[i]) - 8) * int64(tick) / 8 // from one tick past to 31 ahead
				due := w.Now() + off
				setDue(next, due)
				w.Schedule(next, due)
				next++
				time.Sleep(time.Duration(ops[i+1]) * tick / 16)
			}
			time.Sleep(40 * tick)
			synctest.Wait()

			got, errs := rec.snapshot()
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			mu.Lock()
			defer mu.Unlock()
			for id, due := range dues {
				ds := got[id]
				if len(ds) != 1 {
					t.Fatalf("item %d (due %d) handed over %d times", id, due, len(ds))
				}
				late := ds[0].now - max(due, 0)
				if late < 0 {
					t.Fatalf("item %d handed over %v early", id, time.Duration(-late))
				}
				// RussellLuo reads the clock in whole milliseconds: up to 1ms
				// more when the clock is between two.
				if late > int64(tick+time.Millisecond) {
					t.Fatalf("item %d handed over %v late, tick %v", id, time.Duration(late), tick)
				}
			}
			if w.Len() != 0 {
				t.Fatalf("%d items left in the wheel", w.Len())
			}
		})
	})
}
