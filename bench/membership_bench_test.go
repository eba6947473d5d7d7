package bench

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// BenchmarkJoin measures the heartbeat of a new uuid on a channel of N
// members, from GOMAXPROCS goroutines. It runs in rounds (see rounds): each
// timed round joins up to N/10 new uuids, and the untimed leave of the same
// uuids brings the channel back to N.
func BenchmarkJoin(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, workload.OneChannel(n), benchJoin)
		}
	})
}

func benchJoin(b *testing.B, f *fixture) {
	rounds(b, f, nil, f.join, f.leave)
}

// BenchmarkLeave measures the leave of a present member from a channel of N
// members, from GOMAXPROCS goroutines. It runs in rounds (see rounds): up to
// N/10 new uuids join, untimed, and the timed round removes them again.
func BenchmarkLeave(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range sizes.Members {
			withFixture(b, members(n), name, workload.OneChannel(n), benchLeave)
		}
	})
}

func benchLeave(b *testing.B, f *fixture) {
	rounds(b, f, f.join, f.leave, nil)
}

// rounds runs b.N timed calls of op on f, in rounds of at most a tenth of f's
// members and on fresh uuids: before, if not nil, prepares a round's uuids and
// after puts the channel back, both untimed, and op runs on each uuid from
// GOMAXPROCS goroutines. So every timed call finds a channel of N to 1.1 N
// members, whatever b.N is.
//
// The garbage collection that before's allocations start is finished before
// the round, so that it does not run into op's time; op's own allocations
// still start collections in its time, as they should.
//
// Growing the channel by b.N instead, as one timed loop would, measures each
// implementation at a size that depends on its own speed (b.N is larger for
// a faster one), and mostly measures the doubling of its tables.
func rounds(b *testing.B, f *fixture, before, op, after func(uuid string) error) {
	b.StopTimer()
	size := max(len(f.uuids)/10, 1)
	for done := 0; done < b.N; {
		uuids := f.fresh(min(size, b.N-done))
		each := func(fn func(string) error) {
			if fn == nil {
				return
			}
			if err := parallel(len(uuids), func(i int, _ []string) error { return fn(uuids[i]) }); err != nil {
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

// join makes uuid join the fixture's first channel, which it must not be on.
func (f *fixture) join(uuid string) error {
	if n, err := f.p.Heartbeat(uuid, f.names[:1], longTimeout); err != nil || n != 1 {
		return fmt.Errorf("join of %s: joined %d, %v", uuid, n, err)
	}
	return nil
}

// leave makes uuid leave the fixture's first channel, which it must be on.
func (f *fixture) leave(uuid string) error {
	if n, err := f.p.Leave(uuid, f.names[:1]); err != nil || n != 1 {
		return fmt.Errorf("leave of %s: left %d, %v", uuid, n, err)
	}
	return nil
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
