package bench

import (
	"testing"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// BenchmarkHereNow reads one channel of N members from GOMAXPROCS
// goroutines: query=occupancy asks for its occupancy alone (the engine's
// Occupancy, O(1)); query=page lists a page of uuids (1,000 in the full run)
// in the implementation's own result type, and reports uuids/op.
func BenchmarkHereNow(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range sizes.HereNow {
			var f *fixture
			for _, q := range []struct {
				query string
				bench func(b *testing.B, f *fixture)
			}{
				{"occupancy", benchOccupancy},
				{"page", benchPage},
			} {
				b.Run(members(n)+"/query="+q.query, func(b *testing.B) {
					if f == nil {
						f = build(b, name, workload.OneChannel(n))
					}
					b.ReportAllocs()
					b.ResetTimer()
					q.bench(b, f)
				})
			}
			f.release()
		}
	})
}

func benchOccupancy(b *testing.B, f *fixture) {
	want := f.layout.Members
	b.RunParallel(func(pb *testing.PB) {
		ch := f.names[0]
		for pb.Next() {
			if n, err := f.p.Occupancy(ch); err != nil || n != want {
				b.Errorf("occupancy %d, want %d; %v", n, want, err)
				return
			}
		}
	})
}

func benchPage(b *testing.B, f *fixture) {
	want := min(sizes.Page, f.layout.Members)
	b.RunParallel(func(pb *testing.PB) {
		ch := f.names[0]
		for pb.Next() {
			if _, n, err := f.p.HereNow(ch, 0, sizes.Page); err != nil || n != want {
				b.Errorf("page of %d uuids, want %d; %v", n, want, err)
				return
			}
		}
	})
	b.ReportMetric(float64(want), "uuids/op")
}
