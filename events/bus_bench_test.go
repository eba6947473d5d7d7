package events

import (
	"fmt"
	"testing"
)

// BenchmarkPublish measures Publish on one sub key and channel with subs
// subscriptions to the sub key, each on a channel of its own; with subs > 0,
// exactly one matches and is read by a goroutine of its own.
func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 100} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			bus := NewBus(BusConfig{})
			defer bus.Close()
			for i := range subs {
				s, err := bus.Subscribe(Filter{SubKey: "sk", Channels: []string{fmt.Sprintf("ch%d", i)}}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					go func() {
						for range s.Events() {
						}
					}()
				}
			}
			ev := &Event{Action: Join, SubKey: "sk", Channel: "ch0", UUID: "user-1", Occupancy: 1}
			b.ReportAllocs()
			for b.Loop() {
				bus.Publish(ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if subs > 0 {
				b.ReportMetric(float64(bus.Stats().Dropped)/float64(b.N), "dropped/op")
			}
		})
	}
}
