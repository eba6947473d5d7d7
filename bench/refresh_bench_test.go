package bench

import (
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// BenchmarkRefresh measures the heartbeat of a present member, picked at
// random, from GOMAXPROCS goroutines (b.RunParallel). The uuid is written
// into a per-goroutine buffer before each call, as a server parses it from
// the request (see workload.Scratch).
//
//   - members=N: N members on one channel, one channel per heartbeat.
//   - shape=CxM/per-call=K: C channels of M members each; every uuid is on K
//     of them and its heartbeat names all K.
func BenchmarkRefresh(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, n := range slices.Concat(sizes.Members, sizes.Extra) {
			withFixture(b, members(n), name, workload.OneChannel(n), benchRefresh)
		}
		for _, shape := range groupByShape(shapes(sizes.Shape)) {
			b.Run("shape="+shape[0].Shape(), func(b *testing.B) {
				for _, l := range shape {
					withFixture(b, "per-call="+strconv.Itoa(l.PerUUID), name, l, benchRefresh)
				}
			})
		}
	})
}

// shapes are the layouts of n memberships of BenchmarkRefresh/shape=...: one
// channel of n, n/10 channels of 10 and n channels of 1, with one channel per
// heartbeat, and the last two again with 5 channels per heartbeat.
func shapes(n int) []workload.Layout {
	return []workload.Layout{
		{Members: n, Channels: 1, PerUUID: 1},
		{Members: n, Channels: n / 10, PerUUID: 1},
		{Members: n, Channels: n, PerUUID: 1},
		{Members: n, Channels: n / 10, PerUUID: 5},
		{Members: n, Channels: n, PerUUID: 5},
	}
}

// groupByShape groups layouts of the same shape, in order of first appearance.
func groupByShape(ls []workload.Layout) [][]workload.Layout {
	var out [][]workload.Layout
	at := make(map[string]int)
	for _, l := range ls {
		i, ok := at[l.Shape()]
		if !ok {
			i = len(out)
			at[l.Shape()] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], l)
	}
	return out
}

func benchRefresh(b *testing.B, f *fixture) {
	var (
		seed   atomic.Uint64
		joined atomic.Int64
	)
	b.RunParallel(func(pb *testing.PB) {
		r := workload.NewRand(seed.Add(1))
		buf := make([]string, 0, f.layout.PerUUID)
		scratch := new(workload.Scratch)
		for pb.Next() {
			u := r.Intn(len(f.uuids))
			n, err := f.p.Heartbeat(scratch.UUID(u), f.layout.ChannelsOf(buf, f.names, u), longTimeout)
			if err != nil {
				b.Error(err)
				return
			}
			if n != 0 { // a join would have kept the scratch uuid: stop
				joined.Add(1)
				return
			}
		}
	})
	if n := joined.Load(); n != 0 {
		b.Errorf("%d refreshes joined: members went missing", n)
	}
}
