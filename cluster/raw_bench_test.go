package cluster

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/internal/natstest"
)

func BenchmarkRawPublish(b *testing.B) {
	for _, mode := range []string{"sync", "async"} {
		b.Run("mode="+mode, func(b *testing.B) {
			ss := natstest.StartCluster(b, 3)
			nc := natstest.Connect(b, natstest.URLs(ss...))
			js, _ := jetstream.New(nc)
			_, err := js.CreateStream(bg, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"}, Replicas: 3, MaxMsgsPerSubject: 16, AllowMsgTTL: true, SubjectDeleteMarkerTTL: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			b.SetParallelism(max(benchInFlight/runtime.GOMAXPROCS(0), 1))
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			if mode == "sync" {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1)
						m := nats.NewMsg(fmt.Sprint("r.", i%10000))
						if _, err := js.PublishMsg(bg, m, jetstream.WithMsgTTL(time.Minute)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				var futs []jetstream.PubAckFuture
				for i := range b.N {
					m := nats.NewMsg(fmt.Sprint("r.", i%10000))
					f, err := js.PublishMsgAsync(m, jetstream.WithMsgTTL(time.Minute), jetstream.WithStallWait(10*time.Second))
					if err != nil {
						b.Fatal(err)
					}
					futs = append(futs, f)
				}
				<-js.PublishAsyncComplete()
				_ = futs
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/msg")
		})
	}
}
