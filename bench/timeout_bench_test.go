package bench

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presence/bench/internal/impl"
	"github.com/presenced/presence/bench/internal/workload"
	"github.com/presenced/presence/events"
)

// BenchmarkMassTimeout joins N members to one channel so that they are all
// due at the same instant, stops heartbeating, and waits for their timeout
// events on one subscription. It reports:
//
//   - delivery-ms: from the last deadline until the last timeout event was
//     received (the engine's target: at most one tick, 1s, plus 1s);
//   - drain-ms and timeouts/s: from the first timeout event received to the
//     last, and N over that time;
//   - peak-goroutines: the most goroutines seen above the count just before
//     the deadline (sampled every millisecond);
//   - peak-heap-MB and peak-stacks-MB: the most heap (objects) and goroutine
//     stack memory seen above the same moment;
//   - spread-ms: from the first deadline to the last, which should be 0: a
//     member whose heartbeat came later than planned gets the minimum timeout
//     of 1s and falls due late.
//
// ns/op is the whole cycle (populate, wait, deliver) and is not a figure of
// merit. Run it with -benchtime=1x: each round takes seconds.
func BenchmarkMassTimeout(b *testing.B) {
	forEachImpl(b, func(b *testing.B, name impl.Name) {
		b.Run(members(sizes.MassTimeout), func(b *testing.B) {
			b.ReportAllocs()
			var sum massResult
			for range b.N {
				r := massTimeout(b, name, sizes.MassTimeout)
				sum.add(r)
			}
			sum.report(b, b.N, sizes.MassTimeout)
		})
	})
}

type massResult struct {
	delivery, drain, spread time.Duration
	goroutines              int
	heap, stacks            uint64
}

func (r *massResult) add(o massResult) {
	r.delivery += o.delivery
	r.drain += o.drain
	r.spread += o.spread
	r.goroutines += o.goroutines
	r.heap += o.heap
	r.stacks += o.stacks
}

func (r massResult) report(b *testing.B, runs, n int) {
	k := float64(runs)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / k }
	b.ReportMetric(ms(r.delivery), "delivery-ms")
	b.ReportMetric(ms(r.drain), "drain-ms")
	if r.drain > 0 {
		b.ReportMetric(float64(n)*k/r.drain.Seconds(), "timeouts/s")
	}
	b.ReportMetric(float64(r.goroutines)/k, "peak-goroutines")
	b.ReportMetric(float64(r.heap)/k/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(r.stacks)/k/(1<<20), "peak-stacks-MB")
	b.ReportMetric(ms(r.spread), "spread-ms")
}

// massTimeout runs one cycle of BenchmarkMassTimeout.
func massTimeout(b *testing.B, name impl.Name, n int) massResult {
	p, err := impl.New(name, impl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = p.Close()
		runtime.GC()
	}()
	chans := []string{workload.Channel(0)}
	uuids := workload.UUIDs(0, n)

	// Subscribe first, so that no timeout can come before the subscription,
	// however long joining takes; the join events are skipped.
	sub, err := p.Subscribe(nil, 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	var firstEv, lastEv time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		count := 0
		for ev := range sub.Events() {
			if ev.Action != events.Timeout {
				continue
			}
			if count++; count == 1 {
				firstEv = time.Now()
			}
			if count == n {
				lastEv = time.Now()
				return
			}
		}
	}()

	// Every member falls due at the instant due: its timeout is what is left
	// until then, at least 1s (the engine's MinTimeout in the benchmarks).
	// 1.5s, plus 5µs per member for joining, leaves room for that.
	due := time.Now().Add(1500*time.Millisecond + time.Duration(n)*5*time.Microsecond)
	var (
		mu          sync.Mutex
		first, last = due, due
	)
	err = parallel(n, func(i int, _ []string) error {
		now := time.Now()
		timeout := max(due.Sub(now), time.Second)
		if at := now.Add(timeout); at.After(due) {
			mu.Lock()
			last = maxTime(last, at)
			mu.Unlock()
		}
		_, err := p.Heartbeat(uuids[i], chans, timeout)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	uuids = nil
	runtime.GC()
	if wait := time.Until(first); wait <= 0 {
		b.Errorf("joining took longer than planned: %v past the deadline; see spread-ms", -wait)
	}
	s := startSampler()

	select {
	case <-done:
	case <-time.After(time.Until(last) + time.Minute):
		b.Errorf("not every timeout event arrived within a minute of the last deadline")
	}
	peak := s.stop()
	sub.Close()
	<-done
	if lastEv.IsZero() {
		return massResult{}
	}
	return massResult{
		delivery:   lastEv.Sub(last),
		drain:      lastEv.Sub(firstEv),
		spread:     last.Sub(first),
		goroutines: peak.goroutines,
		heap:       peak.heap,
		stacks:     peak.stacks,
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sampler records, every millisecond, the goroutine count and the heap and
// stack bytes, and keeps the largest excess over the first sample.
type sampler struct {
	quit chan struct{}
	out  chan peaks
}

type peaks struct {
	goroutines   int
	heap, stacks uint64
	base         [3]uint64
}

func startSampler() *sampler {
	s := &sampler{quit: make(chan struct{}), out: make(chan peaks)}
	started := make(chan struct{})
	go func() {
		ms := []metrics.Sample{
			{Name: "/sched/goroutines:goroutines"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/stacks:bytes"},
		}
		read := func() [3]uint64 {
			metrics.Read(ms)
			return [3]uint64{ms[0].Value.Uint64(), ms[1].Value.Uint64(), ms[2].Value.Uint64()}
		}
		var p peaks
		p.base = read() // this goroutine is running, and counted
		close(started)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				s.out <- p
				return
			case <-t.C:
			}
			v := read()
			p.goroutines = max(p.goroutines, int(v[0])-int(p.base[0]))
			p.heap = max(p.heap, sub0(v[1], p.base[1]))
			p.stacks = max(p.stacks, sub0(v[2], p.base[2]))
		}
	}()
	<-started
	return s
}

func (s *sampler) stop() peaks {
	close(s.quit)
	return <-s.out
}

func sub0(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}
