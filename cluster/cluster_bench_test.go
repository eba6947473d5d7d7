package cluster

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/natstest"
)

// benchCluster starts servers JetStream servers (R1 or R3) and nodes nodes on
// them, with members members of buckets buckets.
func benchCluster(b *testing.B, servers, nodes, buckets int) []*Node {
	b.Helper()
	var ss []*natstest.Server
	if servers == 1 {
		ss = []*natstest.Server{natstest.Start(b)}
	} else {
		ss = natstest.StartCluster(b, servers)
	}
	cfg := Config{Replicas: servers, Buckets: buckets, AnnounceMax: -1, Storage: 0, MinTimeout: time.Minute}
	var out []*Node
	for i := range nodes {
		s := ss[i%len(ss)]
		urls := natstest.URLs(append([]*natstest.Server{s}, ss...)...)
		out = append(out, newNode(b, urls, cfg))
	}
	return out
}

// latencies collects call latencies from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) { l.reportAs(b, "") }

// reportAs reports the median and the 99th percentile, in ms, as
// <prefix>-p50-ms and <prefix>-p99-ms.
func (l *latencies) reportAs(b *testing.B, prefix string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	if prefix != "" {
		prefix += "-"
	}
	slices.Sort(l.d)
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), prefix+"p50-ms")
	b.ReportMetric(q(0.99), prefix+"p99-ms")
}

// heartbeater is what the heartbeat benchmarks call: a node, or the
// in-memory engine beside them.
type heartbeater interface {
	Heartbeat(ctx context.Context, r engine.HeartbeatRequest) (engine.HeartbeatResult, error)
}

// BenchmarkClusterHeartbeat measures heartbeats through nodes of a cluster,
// from many goroutines (a server's many clients): op=refresh, of members
// present on one of 1,000 channels; op=join, of new members. It reports
// hb/s and latency percentiles. impl=engine is the in-memory engine under
// the same load, for scale.
func BenchmarkClusterHeartbeat(b *testing.B) {
	for _, c := range []struct{ servers, nodes, buckets int }{{0, 1, 1}, {1, 1, 1}, {1, 3, 1}, {3, 1, 1}, {3, 3, 1}, {3, 3, 4}, {1, 3, 4}} {
		for _, op := range []string{"refresh", "join"} {
			name := fmt.Sprintf("impl=cluster/op=%s/servers=%d/nodes=%d/buckets=%d", op, c.servers, c.nodes, c.buckets)
			if c.servers == 0 {
				name = "impl=engine/op=" + op
			}
			b.Run(name, func(b *testing.B) {
				var nodes []heartbeater
				if c.servers == 0 {
					e, err := engine.New(engine.Config{AnnounceMax: -1})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = e.Close() })
					nodes = []heartbeater{e}
				} else {
					for _, n := range benchCluster(b, c.servers, c.nodes, c.buckets) {
						nodes = append(nodes, n)
					}
				}
				const members = 10000
				if op == "refresh" {
					var wg sync.WaitGroup
					for w := range 64 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := w; i < members; i += 64 {
								_, _ = nodes[i%len(nodes)].Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: fmt.Sprint("u", i), Channels: []string{fmt.Sprint("c", i%1000)}, Timeout: 5 * time.Minute})
							}
						}()
					}
					wg.Wait()
				}
				uuids, chans := make([]string, members), make([]string, 1000)
				for i := range uuids {
					uuids[i] = fmt.Sprint("u", i)
				}
				for i := range chans {
					chans[i] = fmt.Sprint("c", i)
				}
				var lat latencies
				var next atomic.Int64
				b.SetParallelism(max(benchInFlight/runtime.GOMAXPROCS(0), 1))
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(next.Add(1))
						u := uuids[i%members]
						if op == "join" {
							u = fmt.Sprint("j", i)
						}
						t0 := time.Now()
						_, err := nodes[i%len(nodes)].Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: u, Channels: chans[i%1000 : i%1000+1], Timeout: 5 * time.Minute})
						if err != nil {
							b.Error(err)
							return
						}
						if i%16 == 0 {
							lat.add(time.Since(t0))
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "hb/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/hb")
				b.StopTimer()
				lat.report(b)
			})
		}
	}
}

// BenchmarkClusterReplicationLag measures how long a join through one node
// takes to reach another node's subscribers (and view).
func BenchmarkClusterReplicationLag(b *testing.B) {
	for _, servers := range []int{1, 3} {
		b.Run(fmt.Sprintf("servers=%d", servers), func(b *testing.B) {
			nodes := benchCluster(b, servers, 2, 1)
			sub, err := nodes[1].Subscribe(events.Filter{SubKey: sk}, events.Options{Buffer: 1 << 16})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			// after: from the answer to the join through node 0 to its event
			// at node 1; e2e: from the call to that event.
			var after, e2e latencies
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := nodes[0].Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: fmt.Sprint("u", i), Channels: []string{"c"}, Timeout: 5 * time.Minute}); err != nil {
					b.Fatal(err)
				}
				answered := time.Now()
				<-sub.Events()
				after.add(time.Since(answered))
				e2e.add(time.Since(t0))
			}
			b.StopTimer()
			after.reportAs(b, "after-answer")
			e2e.reportAs(b, "e2e")
		})
	}
}

// benchInFlight is how many heartbeats the benchmarks keep in flight: a
// server's many clients. PRESENCE_BENCH_INFLIGHT sets it (a few, to see the
// latency of a lightly loaded cluster).
var benchInFlight = func() int {
	if n, err := strconv.Atoi(os.Getenv("PRESENCE_BENCH_INFLIGHT")); err == nil && n > 0 {
		return n
	}
	return 512
}()

// cpuTime is the CPU time the process has used, user and system: with the
// JetStream servers in the process, its growth per heartbeat is the
// cluster's whole cost of one, which a busy machine inflates far less than
// the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// joinMany makes members members present on 100 channels through n, from
// many goroutines.
func joinMany(b *testing.B, n *Node, members int, timeout time.Duration) {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < members; i += 256 {
				if _, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: fmt.Sprintf("uuid-%08d", i), Channels: []string{fmt.Sprint("room-", i%100)}, Timeout: timeout}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d joins failed", failed.Load())
	}
}

// heapInUse returns the bytes of live heap objects after two collections
// (the second empties what sync.Pools moved to their victim caches).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkClusterMemory measures, at members=N on one memory-storage
// JetStream server in the process, the heap bytes per member of a node's
// view (a second node that reads the bucket) and of the JetStream server
// and the node that wrote them. One op is the whole measurement.
func BenchmarkClusterMemory(b *testing.B) {
	for _, members := range []int{100000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			for range b.N {
				srv := natstest.Start(b)
				cfg := Config{Storage: jetstream.MemoryStorage, AnnounceMax: -1, MinTimeout: time.Hour, MaxTimeout: time.Hour, Tick: time.Hour}
				writer := newNode(b, srv.URL(), cfg)
				h0 := heapInUse()
				joinMany(b, writer, members, time.Hour)
				h1 := heapInUse()
				reader := newNode(b, srv.URL(), cfg)
				h2 := heapInUse()
				if got := reader.Stats().Members; got != int64(members) {
					b.Fatalf("the reader holds %d members", got)
				}
				view := float64(h2-h1) / float64(members)
				b.ReportMetric(view, "view-B/member")
				b.ReportMetric(float64(h1-h0)/float64(members)-view, "jetstream-B/member")
			}
		})
	}
}

// BenchmarkClusterTimeout has members=N members time out together and
// reports how late their timeout events came after their deadlines: p50,
// p99 and max, in ms, and the earliest (never negative).
func BenchmarkClusterTimeout(b *testing.B) {
	for _, members := range []int{10000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			for range b.N {
				srv := natstest.Start(b)
				n := newNode(b, srv.URL(), Config{AnnounceMax: -1, MinTimeout: 2 * time.Second})
				sub, err := n.Subscribe(events.Filter{SubKey: sk}, events.Options{Buffer: 4 * members, Policy: events.Block})
				if err != nil {
					b.Fatal(err)
				}
				deadlines := make(map[string]time.Time, members)
				var mu sync.Mutex
				var wg sync.WaitGroup
				for w := range 128 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < members; i += 128 {
							u := fmt.Sprintf("uuid-%08d", i)
							sent := time.Now()
							if _, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: u, Channels: []string{fmt.Sprint("room-", i%100)}, Timeout: 2 * time.Second}); err != nil {
								b.Error(err)
								return
							}
							mu.Lock()
							deadlines[u] = sent.Add(2 * time.Second)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				var late []time.Duration
				for len(late) < members {
					ev := <-sub.Events()
					if ev.Action == events.Timeout {
						late = append(late, ev.Time.Sub(deadlines[ev.UUID]))
					}
				}
				sub.Close()
				slices.Sort(late)
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				b.ReportMetric(ms(late[len(late)/2]), "late-p50-ms")
				b.ReportMetric(ms(late[len(late)*99/100]), "late-p99-ms")
				b.ReportMetric(ms(late[len(late)-1]), "late-max-ms")
				b.ReportMetric(ms(late[0]), "late-min-ms")
			}
		})
	}
}
