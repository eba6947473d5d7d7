package bench

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// BenchmarkJoin measures the heartbeat of a new uuid on a channel of N
// members, from GOMAXPROCS goroutines. The channel grows by b.N members.
func BenchmarkJoin(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, workload.OneChannel(n), benchJoin)
		}
	})
}

func benchJoin(b *testing.B, f *fixture) {
	b.StopTimer()
	uuids := f.fresh(b.N)
	var next atomic.Int64
	runtime.GC()
	b.StartTimer()
	b.RunParallel(func(pb *testing.PB) {
		chans := f.names[:1]
		for pb.Next() {
			uuid := uuids[next.Add(1)-1]
			if n, err := f.p.Heartbeat(uuid, chans, longTimeout); err != nil || n != 1 {
				b.Errorf("join of %s: joined %d, %v", uuid, n, err)
				return
			}
		}
	})
}

// BenchmarkLeave measures the leave of a present member from a channel of N
// members, from GOMAXPROCS goroutines. Before each round b.N members join the
// channel, untimed; the round removes them again.
func BenchmarkLeave(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, workload.OneChannel(n), benchLeave)
		}
	})
}

func benchLeave(b *testing.B, f *fixture) {
	b.StopTimer()
	uuids := f.fresh(b.N)
	chans := f.names[:1]
	if err := parallel(len(uuids), func(i int, _ []string) error {
		_, err := f.p.Heartbeat(uuids[i], chans, longTimeout)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	runtime.GC()
	b.StartTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			uuid := uuids[next.Add(1)-1]
			if n, err := f.p.Leave(uuid, chans); err != nil || n != 1 {
				b.Errorf("leave of %s: left %d, %v", uuid, n, err)
				return
			}
		}
	})
}

// BenchmarkChurn mixes, on a channel of N members and from GOMAXPROCS
// goroutines, 90% refreshes of a random member, 5% joins of a new uuid and 5%
// leaves of a uuid the same goroutine joined earlier (a refresh when it has
// none left), so the channel stays near N members.
func BenchmarkChurn(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, workload.OneChannel(n), benchChurn)
		}
	})
}

func benchChurn(b *testing.B, f *fixture) {
	b.StopTimer()
	// About b.N/20 joins are expected: twice that, and more for small b.N,
	// is plenty. Should they run out, a join becomes a refresh.
	spare := f.fresh(b.N/10 + 64)
	var (
		seed      atomic.Uint64
		nextSpare atomic.Int64
	)
	runtime.GC()
	b.StartTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := workload.NewRand(seed.Add(1))
		chans := f.names[:1]
		scratch := new(workload.Scratch)
		var mine []string // joined by this goroutine, oldest first
		for pb.Next() {
			var (
				n, want int
				err     error
			)
			op := r.Intn(100)
			if op < 5 {
				if i := nextSpare.Add(1) - 1; i < int64(len(spare)) {
					mine = append(mine, spare[i])
				} else {
					op = 99
				}
			}
			switch {
			case op < 5:
				uuid := mine[len(mine)-1]
				n, err = f.p.Heartbeat(uuid, chans, longTimeout)
				want = 1
			case op < 10 && len(mine) > 0:
				uuid := mine[0]
				mine = mine[1:]
				n, err = f.p.Leave(uuid, chans)
				want = 1
			default:
				n, err = f.p.Heartbeat(scratch.UUID(r.Intn(len(f.uuids))), chans, longTimeout)
			}
			if err != nil || n != want {
				b.Errorf("churn: %d channels changed, want %d; %v", n, want, err)
				return
			}
		}
	})
}
