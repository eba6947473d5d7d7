package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presence/engine"
)

// bareHeartbeat is the baseline: a handler that writes the same 200 body and
// does nothing else.
var bareHeartbeat = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", `text/javascript; charset="UTF-8"`)
	_, _ = w.Write(bodyOK)
})

// benchHandler returns the handler under test with uuids u0..u(n-1) present
// on ch1 and ch2.
func benchHandler(b *testing.B, uuids int) http.Handler {
	b.Helper()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Close() })
	h, err := New(eng, Config{Observe: func(string, int, time.Duration) {}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range uuids {
		req := mustRequest(b, heartbeatTarget(i))
		w := newRecorder()
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("%d: %s", w.status, w.body)
		}
	}
	return h
}

func heartbeatTarget(i int) string {
	return fmt.Sprintf("%s/channel/ch1,ch2/heartbeat?uuid=u%d&heartbeat=300&pnsdk=PubNub-JS-Nodejs%%2F12.0.3", pre, i)
}

// BenchmarkHTTPHeartbeat measures heartbeats of present members (the
// refresh path) through the handler, next to a bare handler writing the same
// body: via=handler calls ServeHTTP directly, via=loopback goes through
// net/http over a loopback TCP connection per goroutine.
func BenchmarkHTTPHeartbeat(b *testing.B) {
	for _, uuids := range []int{1, 1000} {
		impls := []struct {
			name string
			h    func(b *testing.B) http.Handler
		}{
			{"httpapi", func(b *testing.B) http.Handler { return benchHandler(b, uuids) }},
			{"bare", func(*testing.B) http.Handler { return bareHeartbeat }},
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("via=handler/impl=%s/uuids=%d", impl.name, uuids), func(b *testing.B) {
				benchDirect(b, impl.h(b), uuids)
			})
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("via=loopback/impl=%s/uuids=%d", impl.name, uuids), func(b *testing.B) {
				benchLoopback(b, impl.h(b), uuids)
			})
		}
	}
}

func benchDirect(b *testing.B, h http.Handler, uuids int) {
	reqs := make([]*http.Request, uuids)
	for i := range reqs {
		reqs[i] = mustRequest(b, heartbeatTarget(i))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		w := newRecorder()
		i := int(next.Add(1))
		for pb.Next() {
			w.reset()
			h.ServeHTTP(w, reqs[i%uuids])
			if w.status != 200 {
				b.Errorf("status %d", w.status)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

func benchLoopback(b *testing.B, h http.Handler, uuids int) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	urls := make([]string, uuids)
	for i := range urls {
		urls[i] = srv.URL + heartbeatTarget(i)
	}
	var next atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		for pb.Next() {
			resp, err := client.Get(urls[i%uuids])
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
