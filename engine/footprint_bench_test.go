package engine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFootprint tells where the heap bytes of a membership go. It
// builds members=N (1k, or PRESENCE_FOOTPRINT_MEMBERS such as 1M) on one
// channel, each uuid a fresh 36-byte string as a server parses it, and
// reports per membership:
//
//   - heap-B/member: the live heap the memberships added after a full
//     collection, less one 48-byte copy of each uuid, as package bench's
//     BenchmarkMemory counts it;
//   - client-B/member: the uuid's record, which holds the first membership
//     and the uuid's bytes, less the same 48 bytes;
//   - list-B/member: the channel's member list (8 bytes a member, and the
//     room the list has grown into);
//   - index-B/member: the uuid index's buckets;
//   - rest-B/member: the rest, which is the expiry wheel's chunks (8 bytes
//     a member, and the unused end of each slot's last chunk) and what an
//     empty channel costs.
func BenchmarkFootprint(b *testing.B) {
	n := 1000
	if v := os.Getenv("PRESENCE_FOOTPRINT_MEMBERS"); v != "" {
		mult := 1
		switch {
		case strings.HasSuffix(v, "M"):
			mult, v = 1_000_000, strings.TrimSuffix(v, "M")
		case strings.HasSuffix(v, "k"):
			mult, v = 1_000, strings.TrimSuffix(v, "k")
		}
		k, err := strconv.Atoi(v)
		if err != nil || k <= 0 {
			b.Fatalf("PRESENCE_FOOTPRINT_MEMBERS=%q: not a count", os.Getenv("PRESENCE_FOOTPRINT_MEMBERS"))
		}
		n = k * mult
	}
	b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
		var heap, client, list, index float64
		for range b.N {
			e, err := New(Config{MinTimeout: time.Second, AnnounceMax: -1})
			if err != nil {
				b.Fatal(err)
			}
			before := liveHeapBytes()
			var wg sync.WaitGroup
			workers := runtime.GOMAXPROCS(0)
			for w := range workers {
				wg.Go(func() {
					chans := make([]string, 1)
					for i := w; i < n; i += workers {
						chans[0] = fmt.Sprintf("room-%011d", 0)
						uuid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
						if _, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: chans, Timeout: time.Hour}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			after := liveHeapBytes()
			ks := e.keyspace(sk, false)
			ch := ks.channels.Get(fmt.Sprintf("room-%011d", 0))
			heap += after - before - 48*float64(n)
			client += (80 - 48) * float64(n) // see TestClientHoldsItsUUID
			list += 8 * float64(cap(ch.members()))
			for i := range ks.clients.Shards() {
				index += float64(ks.clients.ShardBytes(i))
			}
			runtime.KeepAlive(e)
			_ = e.Close()
		}
		per := float64(b.N) * float64(n)
		b.ReportMetric(heap/per, "heap-B/member")
		b.ReportMetric(client/per, "client-B/member")
		b.ReportMetric(list/per, "list-B/member")
		b.ReportMetric(index/per, "index-B/member")
		b.ReportMetric((heap-client-list-index)/per, "rest-B/member")
	})
}

func liveHeapBytes() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc)
}
