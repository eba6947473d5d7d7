package bench

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
)

// BenchmarkEvents measures events from the change to their receipt. subs=K
// subscriptions each follow one channel of their own (a filtered
// subscription), with a buffer of 1,024 events and back-pressure rather than
// loss. From GOMAXPROCS goroutines, each operation is a join or a leave on the
// next of the K channels, which hold 5 other members each, of a uuid the
// goroutine uses on that channel only: exactly one event, received by exactly
// one subscriber. The
// round ends when every event has been received; events/s is b.N over it.
func BenchmarkEvents(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		for _, subs := range []int{1, 100} {
			b.Run("subs="+strconv.Itoa(subs), func(b *testing.B) { benchEvents(b, name, subs) })
		}
	})
}

// counter is one subscriber's count of received events, on a cache line of
// its own.
type counter struct {
	n atomic.Int64
	_ [56]byte
}

func benchEvents(b *testing.B, name impl.Name, subs int) {
	b.StopTimer()
	p, err := impl.New(name, impl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	names := workload.Channels(subs)
	const residents = 5
	for c, ch := range names {
		for r := range residents {
			if _, err := p.Heartbeat(workload.UUID(c*residents+r), []string{ch}, longTimeout); err != nil {
				b.Fatal(err)
			}
		}
	}
	counts := make([]counter, subs)
	for c, ch := range names {
		s, err := p.Subscribe([]string{ch}, 1024)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range s.Events() {
				counts[c].n.Add(1)
			}
		}()
	}
	received := func() (n int64) {
		for i := range counts {
			n += counts[i].n.Load()
		}
		return n
	}

	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.StartTimer()
	b.RunParallel(func(pb *testing.PB) {
		// A uuid of its own per channel, so that no uuid is on many channels.
		uuids := workload.UUIDs(1<<40+int(worker.Add(1)-1)*subs, subs)
		in := make([]bool, subs) // whether uuids[c] is on channel c
		chans := make([]string, 1)
		for c := 0; pb.Next(); c = (c + 1) % subs {
			chans[0] = names[c]
			var (
				n   int
				err error
			)
			if in[c] {
				n, err = p.Leave(uuids[c], chans)
			} else {
				n, err = p.Heartbeat(uuids[c], chans, longTimeout)
			}
			if err != nil || n != 1 {
				b.Errorf("%d channels changed, want 1; %v", n, err)
				return
			}
			in[c] = !in[c]
		}
	})
	deadline := time.Now().Add(time.Minute)
	for received() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events received after a minute", received(), b.N)
		}
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	if got := received(); got != int64(b.N) {
		b.Errorf("%d events received, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
