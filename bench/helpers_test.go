package bench

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// sizes are the sizes of this run: small unless PRESENCE_BENCH_FULL=1.
var sizes workload.Sizes

func TestMain(m *testing.M) {
	var err error
	if sizes, err = workload.FromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// longTimeout is the presence timeout of the heartbeats of every benchmark but
// BenchmarkMassTimeout: long enough that nothing expires while it runs.
const longTimeout = 30 * time.Minute

// fixture is an implementation populated with a layout of members.
type fixture struct {
	p      impl.Presence
	layout workload.Layout
	uuids  []string // uuids[u] is the uuid of index u
	names  []string // names[c] is the name of channel c
	next   int      // index of the next uuid never used
}

// build returns implementation name populated with layout l, each member
// joined with longTimeout. The caller closes it with release.
func build(b *testing.B, name impl.Name, l workload.Layout) *fixture {
	b.Helper()
	if err := l.Validate(); err != nil {
		b.Fatal(err)
	}
	p, err := impl.New(name, impl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{p: p, layout: l, uuids: workload.UUIDs(0, l.UUIDs()), names: l.Names(), next: l.UUIDs()}
	err = parallel(len(f.uuids), func(u int, buf []string) error {
		chans := l.ChannelsOf(buf, f.names, u)
		n, err := p.Heartbeat(f.uuids[u], chans, longTimeout)
		if err == nil && n != len(chans) {
			err = fmt.Errorf("uuid %d joined %d of %d channels", u, n, len(chans))
		}
		return err
	})
	if err != nil {
		_ = p.Close()
		b.Fatal(err)
	}
	return f
}

// release closes the fixture's implementation and collects its garbage, so
// that the next benchmark starts from a clean heap.
func (f *fixture) release() {
	if f == nil {
		return
	}
	_ = f.p.Close()
	f.p, f.uuids, f.names = nil, nil, nil
	runtime.GC()
}

// fresh returns n uuids never used by the fixture.
func (f *fixture) fresh(n int) []string {
	out := workload.UUIDs(f.next, n)
	f.next += n
	return out
}

// parallel calls fn(i, buf) for every i below n, spread over GOMAXPROCS
// goroutines, and returns the first error. buf is an empty slice with room
// for a few channel names, reused by each goroutine.
func parallel(n int, fn func(i int, buf []string) error) error {
	workers := runtime.GOMAXPROCS(0)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		once sync.Once
		err  error
	)
	const chunk = 256
	for range workers {
		wg.Go(func() {
			buf := make([]string, 0, 8)
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					if e := fn(i, buf[:0]); e != nil {
						once.Do(func() { err = e })
						next.Store(int64(n))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return err
}

// withFixture runs bench as sub-benchmark sub of b on implementation name
// populated with layout l. The fixture is built once, before the first
// round's timer starts, shared by every round of the sub-benchmark, and
// released after it.
func withFixture(b *testing.B, sub string, name impl.Name, l workload.Layout, bench func(b *testing.B, f *fixture)) {
	var f *fixture
	b.Run(sub, func(b *testing.B) {
		if f == nil {
			f = build(b, name, l)
			runtime.GC() // the garbage of populating is not the benchmark's
		}
		b.ReportAllocs()
		b.ResetTimer()
		bench(b, f)
	})
	f.release()
}

// forEachImpl runs bench as sub-benchmark impl=X for every implementation,
// in the order of impl.All rotated left by sizes.Rotate.
func forEachImpl(b *testing.B, bench func(b *testing.B, name impl.Name)) {
	k := sizes.Rotate % len(impl.All)
	for _, name := range append(impl.All[k:len(impl.All):len(impl.All)], impl.All[:k]...) {
		b.Run("impl="+string(name), func(b *testing.B) { bench(b, name) })
	}
}

func members(n int) string { return "members=" + workload.Label(n) }
