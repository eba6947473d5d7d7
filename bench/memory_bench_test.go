package bench

import (
	"runtime"
	"slices"
	"testing"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// BenchmarkMemory builds N memberships in a fresh heap and reports what they
// retain after a full GC:
//
//   - heap-B/member: live heap bytes per membership, without the uuid and
//     channel name strings;
//   - uuid-B/member and chan-B/member: the bytes of one copy of each uuid and
//     channel name string (size-class rounded), per membership;
//   - objects/member: live heap objects per membership, strings included (an
//     implementation may keep a uuid's bytes inside another object).
//
// members=N puts N members on one channel; shape=CxM spreads them over C
// channels of M. Every heartbeat passes freshly allocated uuid and channel
// strings that the caller drops at once, as a server that parsed them from a
// request would, so an implementation that keeps the caller's string and one
// that keeps a copy of it both end up holding exactly one copy, which the
// string figures account for. ns/op is the time to build and measure, and is
// not a figure of merit.
func BenchmarkMemory(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range slices.Concat(sizes.Members, sizes.Extra) {
			b.Run(members(n), func(b *testing.B) { benchMemory(b, name, workload.OneChannel(n)) })
		}
		for _, l := range shapes(sizes.Shape)[1:3] {
			b.Run("shape="+l.Shape(), func(b *testing.B) { benchMemory(b, name, l) })
		}
	})
}

func benchMemory(b *testing.B, name impl.Name, l workload.Layout) {
	if err := l.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var heap, objects float64
	for range b.N {
		h, o := retained(b, name, l)
		heap += h
		objects += o
	}
	uuidBytes := float64(sizeClass(workload.UUIDLen)) * float64(l.UUIDs())
	chanBytes := float64(sizeClass(workload.ChannelLen)) * float64(l.Channels)
	runs, m := float64(b.N), float64(l.Members)
	b.ReportMetric((heap/runs-uuidBytes-chanBytes)/m, "heap-B/member")
	b.ReportMetric(uuidBytes/m, "uuid-B/member")
	b.ReportMetric(chanBytes/m, "chan-B/member")
	b.ReportMetric(objects/runs/m, "objects/member")
}

// retained builds layout l on a new implementation name and returns the live
// heap bytes and objects it added, strings included.
func retained(b *testing.B, name impl.Name, l workload.Layout) (heap, objects float64) {
	before := liveHeap()
	p, err := impl.New(name, impl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	err = parallel(l.UUIDs(), func(u int, buf []string) error {
		for j := range l.PerUUID {
			buf = append(buf, workload.Channel((u*l.PerUUID+j)%l.Channels))
		}
		_, err := p.Heartbeat(workload.UUID(u), buf, longTimeout)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	after := liveHeap()
	runtime.KeepAlive(p)
	_ = p.Close()
	p = nil
	runtime.GC()
	return float64(after.bytes) - float64(before.bytes), float64(after.objects) - float64(before.objects)
}

type heapStats struct{ bytes, objects uint64 }

// liveHeap returns the live heap after a full collection.
func liveHeap() heapStats {
	runtime.GC()
	runtime.GC() // a second cycle frees what finalizers and sweeping left
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return heapStats{bytes: ms.HeapAlloc, objects: ms.HeapObjects}
}

// sizeClasses are the Go allocator's small size classes up to 256 bytes.
var sizeClasses = []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256}

// sizeClass returns the bytes the allocator uses for a string of n bytes
// (n >= 16: shorter strings may share a block of the tiny allocator).
func sizeClass(n int) int {
	for _, c := range sizeClasses {
		if n <= c {
			return c
		}
	}
	return (n + 255) &^ 255 // not used by the workload; roughly right
}
