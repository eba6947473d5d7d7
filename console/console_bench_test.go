package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presence/engine"
)

// BenchmarkMembersPage serves api/members, a page of 50 members from the
// middle of a channel of N, through the whole handler (auth, JSON).
func BenchmarkMembersPage(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		e := benchEngine(b)
		for i := range n {
			benchBeat(b, e, "u"+strconv.Itoa(i), "big")
		}
		c := benchConsole(b, e)
		r := authed(fmt.Sprintf("/console/api/members?sub_key=demo&channel=big&limit=50&offset=%d", n/2))
		b.Run("impl=engine/members="+count(n), func(b *testing.B) { serveLoop(b, c, r) })
		_ = c.Close()
		_ = e.Close()
	}
}

// BenchmarkChannelsPage serves api/channels, the 50 busiest of N channels
// of one member each (a channel per member: the scan's worst case), with
// and without a filter; query=subkeys serves api/subkeys on the same
// engine. Each reads every channel's occupancy.
func BenchmarkChannelsPage(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		e := benchEngine(b)
		for i := range n {
			benchBeat(b, e, "u"+strconv.Itoa(i), "ch"+strconv.Itoa(i))
		}
		c := benchConsole(b, e)
		for _, q := range []struct{ name, path string }{
			{"top", "/console/api/channels?sub_key=demo&limit=50"},
			{"filter", "/console/api/channels?sub_key=demo&limit=50&filter=H12"},
			{"subkeys", "/console/api/subkeys"},
		} {
			r := authed(q.path)
			b.Run("impl=engine/channels="+count(n)+"/query="+q.name, func(b *testing.B) {
				serveLoop(b, c, r)
				b.ReportMetric(float64(n), "channels/op")
			})
		}
		_ = c.Close()
		_ = e.Close()
	}
}

// BenchmarkJoinWatched joins new uuids to one channel (announce mode, so
// that each join is an event) with no console page open (watched=false)
// and with one open on the sub key (watched=true): what watching costs the
// engine's writers, the console's subscription taking every event.
func BenchmarkJoinWatched(b *testing.B) {
	for _, watched := range []bool{false, true} {
		b.Run(fmt.Sprintf("impl=engine/watched=%v", watched), func(b *testing.B) {
			e := benchEngine(b)
			defer e.Close()
			c := benchConsole(b, e)
			defer c.Close()
			if watched {
				s := &stream{subKey: sk}
				if !c.hub.join(s) {
					b.Fatal("no stream")
				}
				defer c.hub.leave(s)
				go func() { // the page's stream, emptying its queue
					t := time.NewTicker(streamTick)
					defer t.Stop()
					for range t.C {
						if c.closed() {
							return
						}
						s.take()
					}
				}()
			}
			uuids := make([]string, b.N)
			for i := range uuids {
				uuids[i] = "u" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				benchBeat(b, e, uuids[i], "lobby")
			}
		})
	}
}

func benchEngine(b *testing.B) *engine.Engine {
	e, err := engine.New(engine.Config{AnnounceMax: -1})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchConsole(b *testing.B, e *engine.Engine) *Console {
	c, err := New(e, Config{Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchBeat(b *testing.B, e *engine.Engine, uuid, channel string) {
	if _, err := e.Heartbeat(context.Background(), engine.HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: []string{channel}, Timeout: time.Hour}); err != nil {
		b.Fatal(err)
	}
}

func authed(path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.SetBasicAuth("operator", testToken)
	return r
}

// serveLoop serves r b.N times and reports the answer's size.
func serveLoop(b *testing.B, c *Console, r *http.Request) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "resp-B")
}

func count(n int) string {
	if n >= 1_000_000 {
		return strconv.Itoa(n/1_000_000) + "M"
	}
	return strconv.Itoa(n/1_000) + "k"
}
