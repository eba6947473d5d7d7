package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
	"github.com/presenced/presence/engine"
)

// snapshotSizes are the members=N sizes of the snapshot benchmarks: the
// largest of the run's sizes (1M at full size) and the extra ones (10M with
// PRESENCE_BENCH_MEMBERS=10M).
func snapshotSizes() []int {
	return append([]int{slices.Max(sizes.Members)}, sizes.Extra...)
}

// snapshotShapes are the layouts of n memberships the snapshot benchmarks
// use: one channel of n, the case that holds a channel's lock longest, and
// n/10 channels of 10.
func snapshotShapes(n int) []workload.Layout {
	return []workload.Layout{
		{Members: n, Channels: 1, PerUUID: 1},
		{Members: n, Channels: n / 10, PerUUID: 1},
	}
}

// BenchmarkSnapshot measures engine.Snapshot and engine.Restore (the
// baselines have neither) at members=N, on one channel and on channels of
// 10:
//
//   - op=write: a snapshot written to memory (io.Discard); ns/op is the time
//     to write one.
//   - op=file: the same into a new file on the benchmark's temporary
//     directory, synced to disk, as presenced writes its state file.
//   - op=restore: the snapshot read into a new engine; ns/op is the time to
//     restore it.
//
// disk-B/member is the snapshot's size per member; names-B/member the part
// of it that is uuid and channel names (each stored once, with its length);
// rest-B/member the rest: deadlines, references, framing. MB/s is the
// snapshot's size over ns/op; hold-us, for op=write, the longest the
// snapshot held one channel's lock.
func BenchmarkSnapshot(b *testing.B) {
	b.Run("impl="+string(impl.Engine), func(b *testing.B) {
		for _, n := range snapshotSizes() {
			for _, l := range snapshotShapes(n) {
				b.Run(members(n)+"/shape="+l.Shape(), func(b *testing.B) { benchSnapshot(b, l) })
			}
		}
	})
}

func benchSnapshot(b *testing.B, l workload.Layout) {
	f := build(b, impl.Engine, l)
	defer f.release()
	e := f.p.(*impl.EngineAdapter).E
	runtime.GC()
	var snap bytes.Buffer
	if _, err := e.Snapshot(&snap); err != nil {
		b.Fatal(err)
	}
	size := float64(snap.Len())
	names := float64(l.UUIDs()*(workload.UUIDLen+1) + l.Channels*(workload.ChannelLen+1))
	m := float64(l.Members)
	report := func(b *testing.B) {
		b.ReportMetric(size/m, "disk-B/member")
		b.ReportMetric(names/m, "names-B/member")
		b.ReportMetric((size-names)/m, "rest-B/member")
		b.ReportMetric(size/1e6/(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9), "MB/s")
	}

	b.Run("op=write", func(b *testing.B) {
		b.ReportAllocs()
		var hold time.Duration
		for b.Loop() {
			info, err := e.Snapshot(io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			hold = max(hold, info.LongestHold)
		}
		report(b)
		b.ReportMetric(float64(hold.Nanoseconds())/1e3, "hold-us")
	})
	b.Run("op=file", func(b *testing.B) {
		dir := b.TempDir()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := snapshotFile(e, filepath.Join(dir, "state")); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("op=restore", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			r, err := engine.New(impl.EngineConfig(impl.Options{}))
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			b.StartTimer()
			info, err := r.Restore(bytes.NewReader(snap.Bytes()))
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if info.Members != l.Members {
				b.Fatalf("restored %d members of %d", info.Members, l.Members)
			}
			_ = r.Close()
			b.StartTimer()
		}
		report(b)
	})
}

// snapshotFile writes e's snapshot to a new file at path and syncs it.
func snapshotFile(e *engine.Engine, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	_, err = e.Snapshot(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// BenchmarkSnapshotLatency measures what a snapshot taken beside heartbeats
// costs them. One goroutine sends heartbeats to an engine of members=N (on
// one channel, and on channels of 10) and times each: 90% refreshes of
// present members, 5% joins of new uuids and 5% leaves of those, the two
// that take the channel's lock. With snapshot=on, another goroutine writes
// snapshots back to back all the while (to io.Discard); with snapshot=off
// nothing else runs. One heartbeat goroutine leaves a core of two to the
// snapshot, as a server with a core to spare would; the figures are of the
// wait a snapshot causes, not of a machine short of cores.
//
// p50-us, p99-us, p999-us and max-us are percentiles of every heartbeat's
// latency; p99-locked-us and max-locked-us those of the joins and leaves;
// over-10ms counts the heartbeats that took more than 10 ms; snapshots is
// the number written during the run, and hold-us the longest
// any of them held a channel's lock (SnapshotInfo.LongestHold): the longest
// a heartbeat can have waited for a snapshot, whatever else the machine
// did meanwhile.
func BenchmarkSnapshotLatency(b *testing.B) {
	b.Run("impl="+string(impl.Engine), func(b *testing.B) {
		for _, n := range snapshotSizes()[:1] {
			for _, l := range snapshotShapes(n) {
				b.Run(members(n)+"/shape="+l.Shape(), func(b *testing.B) {
					f := build(b, impl.Engine, l)
					defer f.release()
					runtime.GC()
					for _, on := range []bool{false, true} {
						name := "snapshot=off"
						if on {
							name = "snapshot=on"
						}
						b.Run(name, func(b *testing.B) { benchSnapshotLatency(b, f, on) })
					}
				})
			}
		}
	})
}

func benchSnapshotLatency(b *testing.B, f *fixture, snapshots bool) {
	e := f.p.(*impl.EngineAdapter).E
	// New uuids to join and leave: one pool for the run, each joined once
	// and left once.
	pool := f.fresh(b.N/20 + 1)
	where := make([]string, len(pool)) // the channel each joined
	lat := make([]int64, b.N)
	locked := make([]int64, 0, b.N/10+2)
	r := workload.NewRand(uint64(b.N))
	scratch := new(workload.Scratch)
	buf := make([]string, 0, 1)

	var (
		stop    atomic.Bool
		written atomic.Int64
		hold    time.Duration // the longest a snapshot held a lock
		wg      sync.WaitGroup
	)
	if snapshots {
		wg.Go(func() {
			for !stop.Load() {
				info, err := e.Snapshot(io.Discard)
				if err != nil {
					b.Error(err)
					return
				}
				hold = max(hold, info.LongestHold)
				written.Add(1)
			}
		})
	}

	b.ReportAllocs()
	b.ResetTimer()
	joined, left := 0, 0
	for i := range b.N {
		var err error
		start := time.Now()
		switch {
		case i%20 == 0: // a join of a new uuid
			where[joined] = f.names[r.Intn(len(f.names))]
			_, err = e.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: impl.SubKey, UUID: pool[joined], Channels: where[joined:][:1], Timeout: longTimeout})
			joined++
		case i%20 == 10 && left < joined: // the leave of the oldest one joined
			_, err = e.Leave(ctx, engine.LeaveRequest{SubKey: impl.SubKey, UUID: pool[left], Channels: where[left:][:1]})
			left++
		default: // a refresh
			u := r.Intn(len(f.uuids))
			_, err = f.p.Heartbeat(scratch.UUID(u), f.layout.ChannelsOf(buf, f.names, u), longTimeout)
		}
		d := time.Since(start).Nanoseconds()
		lat[i] = d
		if i%20 == 0 || i%20 == 10 {
			locked = append(locked, d)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	// The uuids joined and still present are left, so that the fixture is
	// as it was for the next sub-benchmark.
	for k := left; k < joined; k++ {
		if _, err := e.Leave(ctx, engine.LeaveRequest{SubKey: impl.SubKey, UUID: pool[k], Channels: where[k:][:1]}); err != nil {
			b.Fatal(err)
		}
	}

	slices.Sort(lat)
	slices.Sort(locked)
	us := func(v int64) float64 { return float64(v) / 1e3 }
	b.ReportMetric(us(percentile(lat, 0.50)), "p50-us")
	b.ReportMetric(us(percentile(lat, 0.99)), "p99-us")
	b.ReportMetric(us(percentile(lat, 0.999)), "p999-us")
	b.ReportMetric(us(lat[len(lat)-1]), "max-us")
	if len(locked) > 0 {
		b.ReportMetric(us(percentile(locked, 0.99)), "p99-locked-us")
		b.ReportMetric(us(locked[len(locked)-1]), "max-locked-us")
	}
	over := len(lat) - sort.Search(len(lat), func(i int) bool { return lat[i] > int64(10*time.Millisecond) })
	b.ReportMetric(float64(over), "over-10ms")
	b.ReportMetric(float64(written.Load()), "snapshots")
	b.ReportMetric(us(hold.Nanoseconds()), "hold-us")
}

var ctx = context.Background()

// percentile returns the q-quantile of sorted.
func percentile(sorted []int64, q float64) int64 {
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}
