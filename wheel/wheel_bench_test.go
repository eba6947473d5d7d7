package wheel

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkSchedule measures Schedule alone: deadlines are an hour ahead, so
// nothing fires while the clock runs. The wheel is replaced, off the clock,
// every refill items to keep memory flat.
func BenchmarkSchedule(b *testing.B) {
	const refill = 1 << 20
	for _, slots := range []int{1, 300} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			b.ReportAllocs()
			v := new(int)
			var w *Wheel[*int]
			renew := func() {
				if w != nil {
					w.Close()
				}
				var err error
				w, err = New(Config{}, func(Batch[*int]) {})
				if err != nil {
					b.Fatal(err)
				}
			}
			renew()
			base := int64(time.Hour)
			tick := int64(w.Tick())
			i := 0
			for b.Loop() {
				if i == refill {
					b.StopTimer()
					renew()
					i = 0
					b.StartTimer()
				}
				w.Schedule(v, base+int64(i%slots)*tick)
				i++
			}
			b.StopTimer()
			w.Close()
		})
	}

	// Parallel schedulers with expiry running: deadlines fall within the next
	// 300 ticks of 1ms, so items are handed over (to a no-op) while the
	// benchmark runs and the wheel stays small.
	b.Run("slots=300/parallel", func(b *testing.B) {
		b.ReportAllocs()
		w, err := New(Config{Tick: time.Millisecond}, func(Batch[*int]) {})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		tick := int64(w.Tick())
		b.RunParallel(func(pb *testing.PB) {
			v := new(int)
			var now int64
			for i := 0; pb.Next(); i++ {
				if i%256 == 0 {
					now = w.Now()
				}
				w.Schedule(v, now+int64(i%300)*tick)
			}
		})
	})
}

// BenchmarkFootprint reports the heap the wheel keeps per scheduled pointer
// item (the items themselves are not counted).
func BenchmarkFootprint(b *testing.B) {
	const items = 1 << 20
	for _, slots := range []int{1, 300} {
		b.Run(fmt.Sprintf("items=1M/slots=%d", slots), func(b *testing.B) {
			v := new(int)
			var perItem float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				w, err := New(Config{}, func(Batch[*int]) {})
				if err != nil {
					b.Fatal(err)
				}
				tick := int64(w.Tick())
				for i := range items {
					w.Schedule(v, int64(time.Hour)+int64(i%slots)*tick)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perItem = float64(after.HeapAlloc-before.HeapAlloc) / items
				w.Close()
				runtime.KeepAlive(w)
			}
			b.ReportMetric(perItem, "heap-B/item")
		})
	}
}
