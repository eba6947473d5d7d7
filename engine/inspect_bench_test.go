package engine

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkTopChannels reads a page of 50 channels, busiest first, out of
// channels=N channels of one member each (the worst case for the scan: as
// many channels as members), from the top and after a cursor, with and
// without a name filter; BenchmarkSubKeys reads the totals of the same sub
// key. Both report channels/op, the channels they read.
func BenchmarkTopChannels(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		e := channelsOfOne(b, n)
		for _, q := range []struct {
			name string
			r    TopChannelsRequest
		}{
			{"top", TopChannelsRequest{SubKey: sk, Limit: 50}},
			{"after", TopChannelsRequest{SubKey: sk, Limit: 50, After: &ChannelCount{Channel: "ch" + strconv.Itoa(n/2), Occupancy: 1}}},
			{"match", TopChannelsRequest{SubKey: sk, Limit: 50, Match: "H99"}},
		} {
			b.Run("impl=engine/channels="+count(n)+"/query="+q.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.TopChannels(q.r); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n), "channels/op")
			})
		}
		b.Run("impl=engine/channels="+count(n)+"/query=subkeys", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.SubKeys(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "channels/op")
		})
		_ = e.Close()
	}
}

// BenchmarkHereNowTimeLeft lists a page of 50 members of a channel of N
// members with their state (query=state), and with their time left too
// (query=state+timeleft, as the console does), from the middle of the
// channel.
func BenchmarkHereNowTimeLeft(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		e := newBenchEngine(b)
		for i := range n {
			if _, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "u" + strconv.Itoa(i), Channels: []string{"big"}, Timeout: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
		for _, q := range []struct {
			name     string
			timeLeft bool
		}{{"state", false}, {"state+timeleft", true}} {
			r := HereNowRequest{SubKey: sk, Channels: []string{"big"}, State: true, TimeLeft: q.timeLeft, Limit: 50, Offset: n / 2}
			b.Run("impl=engine/members="+count(n)+"/query="+q.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.HereNow(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		_ = e.Close()
	}
}

func newBenchEngine(b *testing.B) *Engine {
	e, err := New(Config{AnnounceMax: -1})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// channelsOfOne returns an engine holding n channels of one member each.
func channelsOfOne(b *testing.B, n int) *Engine {
	e := newBenchEngine(b)
	for i := range n {
		if _, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "u" + strconv.Itoa(i), Channels: []string{"ch" + strconv.Itoa(i)}, Timeout: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func count(n int) string {
	if n >= 1_000_000 {
		return strconv.Itoa(n/1_000_000) + "M"
	}
	return strconv.Itoa(n/1_000) + "k"
}
