package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/presenced/presence/console"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// BenchmarkRootHandler serves the heartbeat of a present member, the
// server's most frequent request, through the API alone (handler=api, the
// baseline) and through presenced's root handler with the console off and
// on: what routing /console/ costs every other request.
func BenchmarkRootHandler(b *testing.B) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	api, err := httpapi.New(e, httpapi.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer api.Close()
	con, err := console.New(e, console.Config{Token: consoleToken})
	if err != nil {
		b.Fatal(err)
	}
	defer con.Close()
	off := newRootHandler(api, http.NotFoundHandler())
	on := newRootHandler(api, http.NotFoundHandler())
	on.console = con

	r := httptest.NewRequest(http.MethodGet, "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60", nil)
	w := &discard{h: http.Header{}}
	api.ServeHTTP(w, r) // alice joins
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"api", api}, {"root/console=off", off}, {"root/console=on", on}} {
		b.Run("handler="+h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w.code = 0
				h.h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discard) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	return len(p), nil
}
