package main

// Reliability suites run against the real server, started in-process by run
// on a loopback port: a bounded load that checks every answer against what
// the clients know they did, and faults of the transport (clients going away
// mid long-poll, shutdown under load, headers trickled byte by byte).
// RELIABILITY.md at the repository root lists every suite and its figures.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestLoadLoopback is the load suite: 64 clients with keep-alive connections
// send a fixed number of heartbeats (joins and refreshes, some with state),
// leaves, Here Now (one channel, several, global) and Where Now calls, while
// pollers long-poll every channel's presence events. Presence timeouts are 2
// to 3 s with a 100 ms tick, so members time out during the run; the server
// holds a long-poll 1 s before answering it with no events.
//
// Checks: every answer is a 200 (so no 5xx); every membership a client has
// joined (heartbeat answered 200) is in every Here Now and Where Now until it
// leaves or its timeout passes, and is gone once it has left, or, at the
// latest, a generous bound (expirySlack) after its timeout plus one tick; state is what
// the last heartbeat set; each channel's events, replayed by the long-polls,
// move occupancy by one per join and departure, are never delivered twice,
// and add up to the joins, leaves and timeouts the engine counts; at the end,
// once every member has left or timed out, the sub key is empty; the heap in
// use after the run is within max(20%, 8 MiB) of the heap after the warm-up.
//
// Size: 5,000 requests under -short or -race, 30,000 otherwise, 300,000 with
// PRESENCE_LOAD=full. PRESENCE_SEED reproduces the request mix.
func TestLoadLoopback(t *testing.T) {
	sz := chooseLoadSize(t)
	seed := loadSeed(t)
	s := startServer(t, nil, loadServerArgs()...)

	hc := newLoadHTTPClient(sz.clients + sz.pollers)
	defer hc.CloseIdleConnections()
	c := &httpClient{hc: hc, base: "http://" + s.addr}
	tl, ops := newTally(), &opCounts{}

	loaders := make([]*loader, sz.clients)
	for i := range loaders {
		loaders[i] = newLoader(i, c, sz, seed, tl, ops)
	}

	// The pollers handshake before the load starts, so that between them
	// they see every presence event of the run.
	pollCtx, stopPolls := context.WithCancel(t.Context())
	defer stopPolls()
	var polling sync.WaitGroup
	for i := range sz.pollers {
		var chans []string
		for ch := i; ch < sz.channels; ch += sz.pollers {
			chans = append(chans, loadChannel(ch))
		}
		p := newPoller(i, c, chans, tl, ops)
		a := c.get(t.Context(), p.path(0), waitTimeout)
		require.NoError(t, a.err)
		require.Equal(t, http.StatusOK, a.status, "handshake: %s", a.body)
		require.NoError(t, p.check(p.path(0), a), "handshake: %s", a.body)
		polling.Go(func() { p.run(pollCtx) })
	}

	runLoadPhase(t.Context(), loaders, sz.warmup)
	heapWarm := heapInuse()

	polls0 := ops.polls.Load()
	start := time.Now()
	runLoadPhase(t.Context(), loaders, sz.requests)
	elapsed := time.Since(start)
	polls := ops.polls.Load() - polls0
	heapEnd := heapInuse()

	// Every client leaves about half of its memberships and lets the rest
	// time out, checking with Where Now until all are gone.
	lapseStart := time.Now()
	var lapsing sync.WaitGroup
	for _, l := range loaders {
		lapsing.Go(func() { l.lapse(t.Context()) })
	}
	lapsing.Wait()
	lapsed := time.Since(lapseStart)

	// The sub key is empty, and the engine's counters balance.
	status, body := get(t, s.url("/v2/presence/sub-key/"+loadSubKey))
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"total_occupancy":0`, "every member left or timed out")
	m := engineCounters(t, s)
	assert.Equal(t, int64(0), m["presenced_members"])
	assert.Equal(t, m["presenced_joins_total"], m["presenced_leaves_total"]+m["presenced_timeouts_total"],
		"joins = leaves + timeouts once the sub key is empty")
	assert.Positive(t, m["presenced_timeouts_total"], "members timed out during the run")
	assert.Positive(t, m["presenced_leaves_total"])

	// The long-polls, together, see every join and departure the engine
	// counted, unless the event cache told them to refresh.
	pollsDone := waitUntil(func() bool {
		return ops.joins.Load() >= m["presenced_joins_total"] &&
			ops.departures.Load() >= m["presenced_leaves_total"]+m["presenced_timeouts_total"] || ops.refreshes.Load() > 0
	})
	// Now that the channels are quiet, each long-poll is held and answered
	// empty when its hold runs out.
	heldOut := ops.heldOut.Load()
	assert.True(t, waitUntil(func() bool { return ops.heldOut.Load() >= heldOut+int64(sz.pollers) }),
		"long-polls on quiet channels answered when their hold ran out: %d", ops.heldOut.Load()-heldOut)
	stopPolls()
	polling.Wait()
	if ops.refreshes.Load() == 0 {
		assert.True(t, pollsDone, "long-polls saw %d joins and %d departures; the engine counted %d and %d",
			ops.joins.Load(), ops.departures.Load(), m["presenced_joins_total"], m["presenced_leaves_total"]+m["presenced_timeouts_total"])
		assert.Equal(t, m["presenced_joins_total"], ops.joins.Load(), "joins delivered by long-poll")
		assert.Equal(t, m["presenced_leaves_total"]+m["presenced_timeouts_total"], ops.departures.Load(), "departures delivered by long-poll")
	}

	tl.report(t)
	assert.Zero(t, tl.count(500, 599), "5xx answers")
	total := sz.warmup + sz.requests
	assert.GreaterOrEqual(t, tl.count(200, 200), total, "every call of the load is answered 200")
	assert.Positive(t, ops.checkedPresent.Load())
	assert.Positive(t, ops.checkedAbsent.Load())

	// Memory: what stays after the warm-up is the members (bounded by the
	// uuids and channels of the load), the connections and the subscribe
	// event cache, which fills towards its 4 MiB bound as events accumulate
	// (they are kept 5 min). Growth beyond that is a leak.
	allowed := max(heapWarm/5, 8<<20)
	assert.LessOrEqual(t, heapEnd, heapWarm+allowed,
		"heap in use grew from %.1f MiB after the warm-up to %.1f MiB (allowed +%.1f MiB)", mib(heapWarm), mib(heapEnd), mib(allowed))

	rate := float64(sz.requests) / elapsed.Seconds()
	t.Logf("load size=%s race=%v GOMAXPROCS=%d clients=%d pollers=%d channels=%d uuids=%d",
		sz.name, raceEnabled(), runtime.GOMAXPROCS(0), sz.clients, sz.pollers, sz.channels, sz.clients*sz.uuidsPerClient)
	t.Logf("load held: %d requests in %v after %d of warm-up: %.0f req/s; plus %d long-polls answered (%.0f req/s in all)",
		sz.requests, elapsed.Round(time.Millisecond), sz.warmup, rate, polls, float64(int64(sz.requests)+polls)/elapsed.Seconds())
	t.Logf("calls: heartbeats=%d (with state %d) leaves=%d here_now one=%d many=%d global=%d where_now=%d; lapse phase %v",
		ops.heartbeats.Load(), ops.stateful.Load(), ops.leaves.Load(), ops.hereNowOne.Load(), ops.hereNowMany.Load(),
		ops.hereNowGlobal.Load(), ops.whereNow.Load(), lapsed.Round(time.Millisecond))
	t.Logf("checked: %d memberships that had to be present, %d that had to be absent; statuses %s; problems %d",
		ops.checkedPresent.Load(), ops.checkedAbsent.Load(), tl, tl.nproblems)
	t.Logf("engine: joins=%d leaves=%d timeouts=%d; long-polls=%d (%d answered empty when their hold ran out) delivered events=%d (joins %d, departures %d, state-change %d, refresh %d)",
		m["presenced_joins_total"], m["presenced_leaves_total"], m["presenced_timeouts_total"], ops.polls.Load(),
		ops.heldOut.Load(), ops.events.Load(), ops.joins.Load(), ops.departures.Load(), ops.stateEvents.Load(), ops.refreshes.Load())
	t.Logf("heap in use: %.1f MiB after warm-up, %.1f MiB at the end (%+.1f MiB, allowed +%.1f MiB)",
		mib(heapWarm), mib(heapEnd), mib(heapEnd)-mib(heapWarm), mib(allowed))
}

// runLoadPhase lets the loaders send quota calls between them and returns
// when all are answered.
func runLoadPhase(ctx context.Context, loaders []*loader, quota int) {
	var issued atomic.Int64
	var wg sync.WaitGroup
	for _, l := range loaders {
		wg.Go(func() {
			for issued.Add(1) <= int64(quota) && ctx.Err() == nil {
				l.step(ctx)
			}
		})
	}
	wg.Wait()
}

// engineCounters returns the presenced_* samples without labels of /metrics.
func engineCounters(t *testing.T, s *server) map[string]int64 {
	t.Helper()
	status, body := get(t, s.url("/metrics"))
	require.Equal(t, http.StatusOK, status)
	out := make(map[string]int64)
	for k, v := range metricLines(body) {
		if !strings.HasPrefix(k, "presenced_") || strings.Contains(k, "{") {
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, k)
		out[k] = int64(n)
	}
	return out
}

// TestShutdownDuringLoad cancels run's context while clients and long-polls
// load the server: run returns nil, nothing panics, no goroutine is left,
// and every client sees a 200 with a JSON body, a 503 or a connection error.
// "drain" lets in-flight requests finish (long-polls are ended at once);
// "drain timeout" gives them 1 ms, then cancels them and closes their
// connections.
func TestShutdownDuringLoad(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "drain"},
		{name: "drain timeout", args: []string{"-shutdown-timeout", "1ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			seed := loadSeed(t)
			s := startServer(t, nil, append(loadServerArgs(), tt.args...)...)
			sz := loadSize{clients: 32, pollers: 4, channels: 8, uuidsPerClient: 4}
			hc := newLoadHTTPClient(sz.clients + sz.pollers)
			c := &httpClient{hc: hc, base: "http://" + s.addr}
			tl, ops := newTally(), &opCounts{}

			ctx, stopClients := context.WithCancel(t.Context())
			defer stopClients()
			var answered atomic.Int64
			var wg sync.WaitGroup
			for i := range sz.clients {
				l := newLoader(i, c, sz, seed, tl, ops)
				l.verify = false
				wg.Go(func() {
					for ctx.Err() == nil {
						l.step(ctx)
						answered.Add(1)
					}
				})
			}
			// Half of the pollers watch channels the load keeps busy, half
			// quiet ones: theirs, answered at once for the handshake, are
			// long-polls held by the server by the time the load has got
			// going and the server stops.
			for i := range sz.pollers {
				chans := []string{loadChannel(i)}
				if i%2 == 1 {
					chans = []string{"quiet-" + strconv.Itoa(i)}
				}
				p := newPoller(i, c, chans, tl, ops)
				p.strict = false
				wg.Go(func() {
					for ctx.Err() == nil {
						p.run(ctx) // returns at a connection error
					}
				})
			}

			require.True(t, waitUntil(func() bool { return answered.Load() >= 500 && ops.polls.Load() >= 20 }),
				"the load got going: %d calls, %d polls answered", answered.Load(), ops.polls.Load())
			stopped := time.Now()
			require.NoError(t, s.stop(), "run's result")
			t.Logf("run returned %v after its context was cancelled, %d calls and %d polls in",
				time.Since(stopped).Round(time.Millisecond), answered.Load(), ops.polls.Load())
			assert.Contains(t, s.log.String(), "msg=stopped")

			stopClients()
			wg.Wait()
			hc.CloseIdleConnections()

			tl.report(t)
			assert.Positive(t, tl.count(200, 200))
			t.Logf("answers: %s", tl)
			goleak.VerifyNone(t, ignore)
		})
	}
}

// handshake subscribes to chans without a cursor and returns the timetoken.
func handshake(t *testing.T, s *server, chans string) string {
	t.Helper()
	status, body := get(t, s.url("/v2/subscribe/demo/"+chans+"/0?uuid=watcher"))
	require.Equal(t, http.StatusOK, status, body)
	var a subscribeAnswer
	require.NoError(t, json.Unmarshal([]byte(body), &a), body)
	_, err := parseTT(a.T.T)
	require.NoError(t, err)
	return a.T.T
}

// sendPoll sends a GET for path on a connection of its own.
func sendPoll(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	require.NoError(t, err)
	return conn
}

// requireHeld checks that the server holds the n long-polls sent on conns:
// it waits until the server counts n waiting (presenced_subscribe_waiting),
// then checks that none has been answered, without waiting: a read with a
// deadline already past returns at once, with what has arrived, or with a
// timeout when nothing has.
func requireHeld(t *testing.T, s *server, conns ...net.Conn) {
	t.Helper()
	waitMetric(t, "http://"+s.addr, "presenced_subscribe_waiting", strconv.Itoa(len(conns)))
	for _, conn := range conns {
		require.NoError(t, conn.SetReadDeadline(time.Now()))
		var b [1]byte
		_, err := conn.Read(b[:])
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "the long-poll is held, not answered: %v", err)
		require.NoError(t, conn.SetReadDeadline(time.Time{}))
	}
}

// TestLongPollClientDisconnects closes the connections of long-polls, some
// while the server holds them and some right after sending: each ends on
// the server (a 499 in the metrics), its goroutines go, and the server keeps
// serving: a new long-poll from the same cursor gets the next event.
func TestLongPollClientDisconnects(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := startServer(t, nil)
	tt := handshake(t, s, "quiet-pnpres")
	baseline := runtime.NumGoroutine()
	path := "/v2/subscribe/demo/quiet-pnpres/0?uuid=watcher&tt=" + tt

	const held, abrupt = 8, 8
	var conns []net.Conn
	for range held {
		conns = append(conns, sendPoll(t, s.addr, path))
	}
	requireHeld(t, s, conns...)
	for range abrupt {
		require.NoError(t, sendPoll(t, s.addr, path).Close())
	}
	for _, conn := range conns {
		require.NoError(t, conn.Close())
	}

	const closed = `presenced_http_requests_total{endpoint="subscribe",status="499"}`
	var last string
	ok := waitUntil(func() bool {
		_, body := get(t, s.url("/metrics"))
		last = metricLines(body)[closed]
		return last == strconv.Itoa(held+abrupt)
	})
	require.True(t, ok, "%s = %q, want %d", closed, last, held+abrupt)
	ok = waitUntil(func() bool { return runtime.NumGoroutine() <= baseline })
	assert.True(t, ok, "goroutines: %d, %d before the long-polls", runtime.NumGoroutine(), baseline)

	// The server keeps serving, long-polls included.
	poll := getAsync(s.url(path))
	status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/quiet/heartbeat?uuid=alice"))
	require.Equal(t, http.StatusOK, status)
	var r result
	select {
	case r = <-poll:
	case <-time.After(waitTimeout):
		t.Fatal("the long-poll did not get the join")
	}
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `"action":"join","uuid":"alice"`)

	require.NoError(t, s.stop())
	goleak.VerifyNone(t, ignore)
}

// TestTrickledHeadersAreCut opens connections that send a request's headers
// one byte every 100 ms, never finishing them (slowloris): the server must
// close each, no earlier than its ReadHeaderTimeout (10 s) after the client
// began to connect (so it was that timeout, not a rejection of the bytes
// sent), and keep serving other clients meanwhile. A connection still open
// waitTimeout after the header timeout fails the test. It runs on the real
// clock for about 10 s, so -short skips it.
func TestTrickledHeadersAreCut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the server's 10 s ReadHeaderTimeout on the real clock")
	}
	ignore := goleak.IgnoreCurrent()
	s := startServer(t, nil)

	const conns = 8
	bound := readHeaderTimeout + waitTimeout
	type cut struct {
		trickleResult
		err error
	}
	cuts := make(chan cut, conns)
	for range conns {
		go func() {
			r, err := trickle(s.addr, bound)
			cuts <- cut{r, err}
		}()
	}

	// Other clients are served while the trickles go on.
	served := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var results []cut
	for len(results) < conns {
		select {
		case c := <-cuts:
			results = append(results, c)
		case <-tick.C:
			status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice"))
			assert.Equal(t, http.StatusOK, status)
			served++
		}
	}
	assert.Positive(t, served)
	for i, c := range results {
		require.NoError(t, c.err, "connection %d", i)
		t.Logf("connection %d: cut after %v and %d bytes; the server sent %q", i, c.after.Round(time.Millisecond), c.written, c.got)
		// It was the header timeout, not a rejection of the bytes sent.
		assert.GreaterOrEqual(t, c.after, readHeaderTimeout)
	}
	require.NoError(t, s.stop())
	goleak.VerifyNone(t, ignore)
}

// trickleResult is what trickle saw.
type trickleResult struct {
	after   time.Duration // from the start of the dial to the connection's end
	written int           // bytes written
	got     string        // what the server sent before closing
}

// trickle sends an unfinished request to addr one byte every 100 ms until the
// server closes the connection, and says when that was. It gives up with an
// error after bound.
func trickle(addr string, bound time.Duration) (trickleResult, error) {
	var r trickleResult
	start := time.Now() // before the server can have accepted the connection
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return r, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(bound))

	closed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes, or the deadline
		closed <- string(b)
	}()
	header := "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\nX-Trickle: "
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case got := <-closed:
			r.after, r.got = time.Since(start), got
			if r.after >= bound {
				return r, fmt.Errorf("still open after %v", bound)
			}
			return r, nil
		case <-tick.C:
			b := byte('a')
			if r.written < len(header) {
				b = header[r.written]
			}
			if _, err := conn.Write([]byte{b}); err == nil {
				r.written++
			}
		}
	}
}

// poller long-polls the presence channels of some load channels, from a
// handshake on, and checks every answer: timetokens, envelopes, and that each
// channel's occupancy, replayed from its events, moves by one per join and
// departure. Only its own goroutine uses it.
type poller struct {
	id     int
	c      *httpClient
	chans  []string // the -pnpres names
	tally  *tally
	ops    *opCounts
	strict bool // answers must be valid JSON; off while the server is being stopped

	cursor    int64
	occupancy map[string]int   // by -pnpres name; absent until the first event
	lastTT    map[string]int64 // by -pnpres name
}

func newPoller(id int, c *httpClient, chans []string, tl *tally, ops *opCounts) *poller {
	p := &poller{id: id, c: c, tally: tl, ops: ops, strict: true,
		occupancy: make(map[string]int), lastTT: make(map[string]int64)}
	for _, ch := range chans {
		p.chans = append(p.chans, ch+"-pnpres")
	}
	return p
}

func (p *poller) path(tt int64) string {
	path := fmt.Sprintf("/v2/subscribe/%s/%s/0?uuid=poller-%d", loadSubKey, strings.Join(p.chans, ","), p.id)
	if tt != 0 {
		path += "&tt=" + strconv.FormatInt(tt, 10) + "&tr=1"
	}
	return path
}

// subscribeAnswer is the body of a subscribe answer.
type subscribeAnswer struct {
	T struct {
		T string `json:"t"`
		R int    `json:"r"`
	} `json:"t"`
	M []struct {
		A string `json:"a"`
		P struct {
			T string `json:"t"`
			R int    `json:"r"`
		} `json:"p"`
		K string `json:"k"`
		C string `json:"c"`
		B string `json:"b"`
		D struct {
			Action         string `json:"action"`
			UUID           string `json:"uuid"`
			Occupancy      *int   `json:"occupancy"`
			HereNowRefresh bool   `json:"here_now_refresh"`
		} `json:"d"`
	} `json:"m"`
}

// run handshakes, then long-polls until ctx ends. Each poll is bounded by
// pollBound: channels under load never stay quiet that long.
func (p *poller) run(ctx context.Context) {
	for ctx.Err() == nil {
		path := p.path(p.cursor)
		a := p.c.get(ctx, path, pollBound)
		if ctx.Err() != nil {
			return // the test ends this poll: a client going away mid-poll
		}
		p.ops.polls.Add(1)
		if a.err != nil {
			p.tally.netError()
			if p.strict {
				p.tally.problem("GET %s: %v (a poll is bounded by %v)", path, a.err, pollBound)
			}
			return
		}
		p.tally.status(a.status)
		if !p.strict {
			if stoppingAnswer(p.tally, path, a) && p.check(path, a) != nil {
				p.cursor = 0 // not this test's concern: start again
			}
			continue
		}
		if a.status != http.StatusOK {
			p.tally.problem("GET %s: status %d, want 200; body %s", path, a.status, clip(a.body))
			return
		}
		if err := p.check(path, a); err != nil {
			p.tally.problem("GET %s: %v; body %s", path, err, clip(a.body))
			return
		}
	}
}

// check checks one subscribe answer and moves the cursor.
func (p *poller) check(path string, a answer) error {
	var got subscribeAnswer
	if err := json.Unmarshal(a.body, &got); err != nil {
		return err
	}
	tt, err := parseTT(got.T.T)
	if err != nil {
		return fmt.Errorf("t.t: %w", err)
	}
	if got.T.R < 1 {
		return fmt.Errorf("t.r %d, want >= 1", got.T.R)
	}
	if tt < p.cursor {
		return fmt.Errorf("cursor went back from %d to %d", p.cursor, tt)
	}
	if p.cursor == 0 && len(got.M) > 0 {
		return errors.New("a handshake answered with messages")
	}
	if p.cursor != 0 && len(got.M) == 0 {
		p.ops.heldOut.Add(1) // the hold ran out
	}
	for _, m := range got.M {
		ett, err := parseTT(m.P.T)
		switch {
		case err != nil:
			return fmt.Errorf("p.t: %w", err)
		case ett > tt:
			return fmt.Errorf("event timetoken %d after the answer's %d", ett, tt)
		case ett <= p.lastTT[m.C] && !m.D.HereNowRefresh:
			return fmt.Errorf("event of %s at %d after one at %d: delivered twice or out of order", m.C, ett, p.lastTT[m.C])
		case !slices.Contains(p.chans, m.C) || m.B != m.C || m.K != loadSubKey || m.A == "" || m.P.R < 1:
			return fmt.Errorf("envelope c=%q b=%q k=%q a=%q p.r=%d", m.C, m.B, m.K, m.A, m.P.R)
		case m.D.Occupancy == nil || *m.D.Occupancy < 0:
			return fmt.Errorf("event without occupancy")
		}
		p.lastTT[m.C] = ett
		p.ops.events.Add(1)
		occ := *m.D.Occupancy
		prev, known := p.occupancy[m.C]
		want := -1
		switch m.D.Action {
		case "join":
			p.ops.joins.Add(1)
			want = prev + 1
		case "leave", "timeout":
			p.ops.departures.Add(1)
			want = prev - 1
		case "state-change":
			p.ops.stateEvents.Add(1)
			want = prev
		case "interval":
			if !m.D.HereNowRefresh {
				return fmt.Errorf("interval event in announce mode")
			}
			p.ops.refreshes.Add(1)
			known = false // a gap: start again from what it states
		default:
			return fmt.Errorf("action %q", m.D.Action)
		}
		if m.D.Action != "interval" && !isLoadUUID(m.D.UUID) {
			return fmt.Errorf("%s of uuid %q, which no client sent", m.D.Action, m.D.UUID)
		}
		if known && occ != want {
			return fmt.Errorf("%s of %s in %s states occupancy %d; replaying this channel's events gives %d",
				m.D.Action, m.D.UUID, m.C, occ, want)
		}
		p.occupancy[m.C] = occ
	}
	p.cursor = tt
	return nil
}

// parseTT reads a 17-digit timetoken string.
func parseTT(s string) (int64, error) {
	if len(s) != 17 {
		return 0, fmt.Errorf("timetoken %q is not 17 digits", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

// stoppingAnswer checks an answer got while the server shuts down: a
// connection error, a 503, or a 200 with a JSON body are fine; any other
// status, and a 200 without a JSON body (as a long-poll cut off by the
// shutdown could get), is a problem: every call of the load is valid. It
// reports whether the answer is a 200 with a JSON body.
func stoppingAnswer(tl *tally, path string, a answer) bool {
	switch {
	case a.err != nil || a.status == http.StatusServiceUnavailable:
		return false
	case a.status != http.StatusOK:
		tl.problem("GET %s while stopping: status %d; body %s", path, a.status, clip(a.body))
		return false
	case !json.Valid(a.body):
		tl.problem("GET %s while stopping: 200 with body %s, not JSON", path, clip(a.body))
		return false
	}
	return true
}
