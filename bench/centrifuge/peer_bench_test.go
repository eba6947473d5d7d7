package centrifuge

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
	"github.com/presenced/presence/engine"
)

// subject is what the benchmarks drive: the engine or the peer.
type subject interface {
	Heartbeat(uuid string, channels []string, timeout time.Duration) error
	Leave(uuid string, channels []string) error
	Occupancy(channel string) (int, error)
	HereNow(channel string, offset, limit int) (occupancy int, uuids []string, err error)
	Close() error
}

// engineSubject drives the engine through the adapter package bench uses.
type engineSubject struct{ *impl.EngineAdapter }

func (e engineSubject) Heartbeat(uuid string, channels []string, timeout time.Duration) error {
	_, err := e.EngineAdapter.Heartbeat(uuid, channels, timeout)
	return err
}

func (e engineSubject) Leave(uuid string, channels []string) error {
	_, err := e.EngineAdapter.Leave(uuid, channels)
	return err
}

func (e engineSubject) HereNow(channel string, offset, limit int) (int, []string, error) {
	res, err := e.E.HereNow(engine.HereNowRequest{
		SubKey: impl.SubKey, Channels: []string{channel}, UUIDs: true, Offset: offset, Limit: limit,
	})
	if err != nil || len(res.Channels) == 0 {
		return 0, nil, err
	}
	uuids := make([]string, len(res.Channels[0].Members))
	for i, m := range res.Channels[0].Members {
		uuids[i] = m.UUID
	}
	return res.Channels[0].Occupancy, uuids, nil
}

// impls are the implementations compared, in their usual order.
var impls = []string{"engine", "centrifuge"}

func newSubject(name string) (subject, error) {
	switch name {
	case "engine":
		e, err := impl.NewEngine(impl.Options{})
		if err != nil {
			return nil, err
		}
		return engineSubject{e}, nil
	case "centrifuge":
		return NewPeer()
	}
	return nil, fmt.Errorf("unknown implementation %q", name)
}

var sizes workload.Sizes

func sizesFromEnv() {
	var err error
	if sizes, err = workload.FromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// forEach runs bench as impl=X for every implementation, rotated as package
// bench rotates them (PRESENCE_BENCH_ROTATE).
func forEach(b *testing.B, bench func(b *testing.B, name string)) {
	k := sizes.Rotate % len(impls)
	for _, name := range append(impls[k:len(impls):len(impls)], impls[:k]...) {
		b.Run("impl="+name, func(b *testing.B) { bench(b, name) })
	}
}

const longTimeout = 30 * time.Minute

// fixture is an implementation with n members on one channel.
type fixture struct {
	s     subject
	uuids []string
	chans []string
	next  int
}

func build(b *testing.B, name string, n int) *fixture {
	b.Helper()
	s, err := newSubject(name)
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{s: s, uuids: workload.UUIDs(0, n), chans: workload.Channels(1), next: n}
	if err := parallel(n, func(i int) error { return s.Heartbeat(f.uuids[i], f.chans, longTimeout) }); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	return f
}

func (f *fixture) release() {
	if f != nil {
		_ = f.s.Close()
		f.s, f.uuids = nil, nil
		runtime.GC()
	}
}

func (f *fixture) fresh(n int) []string {
	out := workload.UUIDs(f.next, n)
	f.next += n
	return out
}

// parallel calls fn(i) for every i below n on GOMAXPROCS goroutines and
// returns the first error.
func parallel(n int, fn func(i int) error) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		once sync.Once
		err  error
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if e := fn(i); e != nil {
					once.Do(func() { err = e })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return err
}

// withFixture runs bench as sub-benchmark sub on a fixture built once.
func withFixture(b *testing.B, sub, name string, n int, bench func(b *testing.B, f *fixture)) {
	var f *fixture
	b.Run(sub, func(b *testing.B) {
		if f == nil {
			f = build(b, name, n)
		}
		b.ReportAllocs()
		b.ResetTimer()
		bench(b, f)
	})
	f.release()
}

func members(n int) string { return "members=" + workload.Label(n) }

// BenchmarkPeerRefresh measures the heartbeat of a present member picked at
// random on a channel of N members, from GOMAXPROCS goroutines. Both
// implementations get the uuid string the member joined with, as a
// Centrifuge client passes its own id: Centrifuge keeps the string it is
// given, even on a refresh.
func BenchmarkPeerRefresh(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		for _, n := range slices.Concat(sizes.Members, sizes.Extra) {
			withFixture(b, members(n), name, n, func(b *testing.B, f *fixture) {
				var seed atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					r := workload.NewRand(seed.Add(1))
					for pb.Next() {
						if err := f.s.Heartbeat(f.uuids[r.Intn(len(f.uuids))], f.chans, longTimeout); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})
}

// BenchmarkPeerJoin measures the join of a new uuid to a channel of N
// members, in rounds of at most N/10 that an untimed leave undoes.
func BenchmarkPeerJoin(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, n, func(b *testing.B, f *fixture) {
				rounds(b, f, nil, f.join, f.leave)
			})
		}
	})
}

// BenchmarkPeerLeave measures the leave of a present member from a channel
// of N members, in rounds of at most N/10 joined untimed before.
func BenchmarkPeerLeave(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, n, func(b *testing.B, f *fixture) {
				rounds(b, f, f.join, f.leave, nil)
			})
		}
	})
}

func (f *fixture) join(uuid string) error  { return f.s.Heartbeat(uuid, f.chans, longTimeout) }
func (f *fixture) leave(uuid string) error { return f.s.Leave(uuid, f.chans) }

// rounds is package bench's: b.N timed calls of op on fresh uuids, in rounds
// of at most a tenth of the members, with untimed before and after.
func rounds(b *testing.B, f *fixture, before, op, after func(uuid string) error) {
	b.StopTimer()
	size := max(len(f.uuids)/10, 1)
	for done := 0; done < b.N; {
		uuids := f.fresh(min(size, b.N-done))
		each := func(fn func(string) error) {
			if fn == nil {
				return
			}
			if err := parallel(len(uuids), func(i int) error { return fn(uuids[i]) }); err != nil {
				b.Fatal(err)
			}
		}
		if before != nil {
			each(before)
			runtime.GC()
		}
		b.StartTimer()
		each(op)
		b.StopTimer()
		each(after)
		done += len(uuids)
	}
}

// BenchmarkPeerHereNow reads a channel of N members from GOMAXPROCS
// goroutines: query=occupancy its occupancy, query=page a page of uuids
// (1,000 in the full run).
func BenchmarkPeerHereNow(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		for _, n := range sizes.HereNow {
			withFixture(b, members(n)+"/query=occupancy", name, n, func(b *testing.B, f *fixture) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if got, err := f.s.Occupancy(f.chans[0]); err != nil || got != n {
							b.Errorf("occupancy %d, want %d; %v", got, n, err)
							return
						}
					}
				})
			})
			withFixture(b, members(n)+"/query=page", name, n, func(b *testing.B, f *fixture) {
				want := min(sizes.Page, n)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, page, err := f.s.HereNow(f.chans[0], 0, sizes.Page); err != nil || len(page) != want {
							b.Errorf("page of %d, want %d; %v", len(page), want, err)
							return
						}
					}
				})
				b.ReportMetric(float64(want), "uuids/op")
			})
		}
	})
}

// BenchmarkPeerMemory builds N memberships on one channel in a fresh heap
// and reports heap-B/member without the strings, as package bench's
// BenchmarkMemory does: every heartbeat passes fresh uuid and channel
// strings that the caller drops, and one copy of each, which both
// implementations keep, is reported apart (uuid-B/member, chan-B/member).
// What an empty engine or Centrifuge node holds is left out: the heap is
// measured from just after it is made.
func BenchmarkPeerMemory(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		for _, n := range slices.Concat(sizes.Members, sizes.Extra) {
			b.Run(members(n), func(b *testing.B) {
				b.ReportAllocs()
				var heap, objects float64
				for range b.N {
					s, err := newSubject(name)
					if err != nil {
						b.Fatal(err)
					}
					before := liveHeap() // what a new node or engine holds is not per member
					err = parallel(n, func(i int) error {
						return s.Heartbeat(workload.UUID(i), []string{workload.Channel(0)}, longTimeout)
					})
					if err != nil {
						b.Fatal(err)
					}
					after := liveHeap()
					runtime.KeepAlive(s)
					_ = s.Close()
					heap += float64(after.bytes) - float64(before.bytes)
					objects += float64(after.objects) - float64(before.objects)
				}
				uuidBytes := float64(sizeClass(workload.UUIDLen)) * float64(n)
				chanBytes := float64(sizeClass(workload.ChannelLen))
				runs, m := float64(b.N), float64(n)
				b.ReportMetric((heap/runs-uuidBytes-chanBytes)/m, "heap-B/member")
				b.ReportMetric(uuidBytes/m, "uuid-B/member")
				b.ReportMetric(chanBytes/m, "chan-B/member")
				b.ReportMetric(objects/runs/m, "objects/member")
			})
		}
	})
}

type heapStats struct{ bytes, objects uint64 }

func liveHeap() heapStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return heapStats{bytes: ms.HeapAlloc, objects: ms.HeapObjects}
}

// sizeClass returns the bytes the allocator uses for a string of n bytes,
// 16 <= n <= 256.
func sizeClass(n int) int {
	for _, c := range []int{16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256} {
		if n <= c {
			return c
		}
	}
	return n
}
