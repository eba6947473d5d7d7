package cluster

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkClusterHeartbeat measures heartbeats through nodes of a cluster,
// from many goroutines (a server's many clients): op=refresh, of members
// present on one of 1,000 channels; op=join, of new members. It reports
// hb/s and latency percentiles.
func BenchmarkClusterHeartbeat(b *testing.B) {
	for _, c := range []struct{ servers, nodes, buckets int }{{1, 1, 1}, {1, 3, 1}, {3, 1, 1}, {3, 3, 1}, {3, 3, 4}, {1, 3, 4}} {
		for _, op := range []string{"refresh", "join"} {
			name := fmt.Sprintf("op=%s/servers=%d/nodes=%d/buckets=%d", op, c.servers, c.nodes, c.buckets)
			b.Run(name, func(b *testing.B) {
				nodes := benchCluster(b, c.servers, c.nodes, c.buckets)
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
				b.SetParallelism(benchInFlight / runtime.GOMAXPROCS(0))
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
			var lat latencies
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := nodes[0].Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: fmt.Sprint("u", i), Channels: []string{"c"}, Timeout: 5 * time.Minute}); err != nil {
					b.Fatal(err)
				}
				written := time.Since(t0)
				<-sub.Events()
				lat.add(time.Since(t0) - written)
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}

// benchInFlight is how many heartbeats the benchmarks keep in flight: a
// server's many clients.
var benchInFlight = 512

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
