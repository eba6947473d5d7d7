package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

// TestHeartbeatRefreshDoesNotAllocate pins the lean path: a heartbeat of a
// present member, through the handler, allocates nothing (net/http's own
// allocations aside).
func TestHeartbeatRefreshDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless with -race")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"bare", Config{Logger: nil, Observe: func(string, int, time.Duration) {}}},
		{"keys and authorizer", Config{Keys: []Key{{SubKey: sk}}, Authorizer: allowAll{}, Observe: func(string, int, time.Duration) {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg, engine.Config{})
			req := mustRequest(t, pre+"/channel/ch1,ch2/heartbeat?uuid=u1&heartbeat=60&pnsdk=PubNub-JS-Nodejs%2F12.0.3")
			w := newRecorder()
			e.h.ServeHTTP(w, req)
			require.Equal(t, 200, w.status, string(w.body))
			allocs := testing.AllocsPerRun(200, func() {
				w.reset()
				e.h.ServeHTTP(w, req)
			})
			assert.Equal(t, 200, w.status)
			assert.Zero(t, allocs, "through the test's Presence proxy")

			// The same with the engine itself behind the handler.
			h, err := New(e.eng, tc.cfg)
			require.NoError(t, err)
			defer h.Close()
			w.reset()
			h.ServeHTTP(w, req)
			require.Equal(t, 200, w.status, string(w.body))
			allocs = testing.AllocsPerRun(200, func() {
				w.reset()
				h.ServeHTTP(w, req)
			})
			assert.Equal(t, 200, w.status)
			assert.Zero(t, allocs, "with the engine behind the handler")
		})
	}
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, Request) (Denied, error) { return Denied{}, nil }

// mustRequest builds a server-side request for target, reusable across
// calls.
func mustRequest(t testing.TB, target string) *http.Request {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	require.NoError(t, err)
	return (&http.Request{
		Method:     http.MethodGet,
		URL:        u,
		RequestURI: target,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header),
		Host:   "example.com",
	}).WithContext(context.Background())
}

func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	const workers, each = 8, 200
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uuid := "u" + string(rune('a'+w))
			for i := range each {
				target := pre + "/channel/ch1,ch2/heartbeat?uuid=" + uuid
				if i%3 == 1 {
					target = pre + "/channel/ch1?state=1"
				}
				req := mustRequest(t, target)
				rec := newRecorder()
				e.h.ServeHTTP(rec, req)
				if rec.status != 200 || !json.Valid(rec.body) {
					errs <- assert.AnError
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := e.eng.Occupancy(sk, "ch1")
	require.NoError(t, err)
	assert.Equal(t, workers, n)
}

// FuzzHandler sends arbitrary paths and queries: the handler must not panic,
// must answer a known status with the common headers, and without a
// callback its body must be JSON.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		pre + "/channel/ch1/heartbeat?uuid=u1&state=%7B%22ch1%22%3A%7B%7D%7D",
		pre + `/channel/a,b/heartbeat?uuid=u&state={"a":{"x":"&"}}`,
		pre + "/channel/,?channel-group=g&state=1&limit=0",
		pre + "/channel/a%2Cb/uuid/u/data?state=%7B%7D",
		pre + "/uuid/%E2%9C%93",
		pre + "?disable_uuids=1&callback=cb",
		reg + "/g?add=a,b",
		reg + "/g?remove=a&callback=x.y",
		reg + "/g/remove",
		reg,
		"/time/0",
		"/v2/presence/sub_key/k/channel/a/leave?uuid=u",
		"/v2/subscribe/k/a,a-pnpres/0?uuid=u&heartbeat=60",
		"/v2/subscribe/k/,/cb?uuid=u&tt=17145648000000000&channel-group=g-pnpres",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	eng, err := engine.New(engine.Config{MaxMembers: 1000})
	if err != nil {
		f.Fatal(err)
	}
	defer eng.Close()
	h, err := New(eng, Config{Authorizer: mustGrants(f), SubscribeHold: time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	known := map[int]bool{200: true, 400: true, 403: true, 404: true, 414: true, 503: true}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.ContainsAny(target, " \r\n") {
			return
		}
		req := (&http.Request{Method: http.MethodGet, URL: u, RequestURI: target, Header: make(http.Header)}).WithContext(context.Background())
		w := newRecorder()
		h.ServeHTTP(w, req)
		if !known[w.status] {
			t.Fatalf("%s: status %d: %s", target, w.status, w.body)
		}
		if w.header.Get("Content-Type") == "" || w.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: headers %v", target, w.header)
		}
		if !strings.Contains(target, "callback") && !strings.HasPrefix(target, "/time/") && !strings.HasPrefix(target, "/v2/subscribe/") && !json.Valid(w.body) {
			t.Fatalf("%s: not JSON: %s", target, w.body)
		}
	})
}

func mustGrants(f *testing.F) *GrantTable {
	g, err := LoadGrants(strings.NewReader(`{"*":{"*":{"channels":{"*":"r"},"groups":{"g*":"rm"}}}}`))
	if err != nil {
		f.Fatal(err)
	}
	return g
}
