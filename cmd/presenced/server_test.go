package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

func TestRunServesHealthz(t *testing.T) {
	s := startServer(t, nil)
	assert.Regexp(t, `^127\.0\.0\.1:[1-9][0-9]*$`, s.addr, "the log shows the port bound, not :0")

	status, body := get(t, s.url("/healthz"))
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok\n", body)

	require.NoError(t, s.stop())
	assert.Contains(t, s.log.String(), "msg=stopped")
}

func TestRunMetrics(t *testing.T) {
	s := startServer(t, nil)

	status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60"))
	require.Equal(t, http.StatusOK, status)
	status, _ = get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60"))
	require.Equal(t, http.StatusOK, status)

	status, body := get(t, s.url("/metrics"))
	require.Equal(t, http.StatusOK, status)
	samples := metricLines(body)
	for sample, want := range map[string]string{
		`presenced_http_requests_total{endpoint="heartbeat",status="200"}`:               "2",
		`presenced_http_request_duration_seconds_count{endpoint="heartbeat"}`:            "2",
		`presenced_http_request_duration_seconds_bucket{endpoint="heartbeat",le="+Inf"}`: "2",
		`presenced_members`:              "1",
		`presenced_channels`:             "1",
		`presenced_uuids`:                "1",
		`presenced_heartbeats_total`:     "2",
		`presenced_joins_total`:          "1",
		`presenced_leaves_total`:         "0",
		`presenced_timeouts_total`:       "0",
		`presenced_events_dropped_total`: "0",
	} {
		assert.Equal(t, want, samples[sample], sample)
	}
	for _, name := range []string{"presenced_events_published_total", "go_goroutines", "process_open_fds", "promhttp_metric_handler_requests_total"} {
		assert.Contains(t, body, "\n"+name, name)
	}
}

func TestRunKeysFromConfig(t *testing.T) {
	path := writeFile(t, "presenced.json", `{"keys": [{"sub_key": "sub-c-listed"}]}`)
	s := startServer(t, nil, "-config", path)
	assert.Contains(t, s.log.String(), "keys=1")

	status, _ := get(t, s.url("/v2/presence/sub-key/sub-c-listed/channel/lobby/heartbeat?uuid=alice"))
	assert.Equal(t, http.StatusOK, status)
	status, body := get(t, s.url("/v2/presence/sub-key/sub-c-other/channel/lobby/heartbeat?uuid=alice"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "Invalid Subscribe Key")
}

func TestRunGrantsFromConfig(t *testing.T) {
	path := writeFile(t, "presenced.json", `{"keys": [{"sub_key": "s"}], "grants": `+testGrants+`}`)
	s := startServer(t, nil, "-config", path)
	assert.Contains(t, s.log.String(), "grants=true")

	status, _ := get(t, s.url("/v2/presence/sub-key/s/channel/lobby/heartbeat?uuid=alice&auth=auth-reader"))
	assert.Equal(t, http.StatusOK, status)
	status, body := get(t, s.url("/v2/presence/sub-key/s/channel/lobby/heartbeat?uuid=alice&auth=someone-else"))
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, `"service":"Access Manager"`)
}

func TestRunConfigFromEnvironment(t *testing.T) {
	path := writeFile(t, "presenced.json", `{"keys": [{"sub_key": "a"}, {"sub_key": "b"}]}`)
	s := startServer(t, map[string]string{"PRESENCED_CONFIG": path, "PRESENCED_LOG_FORMAT": "json"})
	assert.Contains(t, s.log.String(), `"keys":2`)
}

func TestRunErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "bad flag", args: []string{"-tick", "x"}, wantErr: "invalid value"},
		{name: "missing config", args: []string{"-config", "/nonexistent/presenced.json"}, wantErr: "config: open /nonexistent/presenced.json"},
		{name: "tick out of bounds", args: []string{"-tick", "1us"}, wantErr: "-tick 1µs: must be at least 1ms"},
		{name: "min above max", args: []string{"-min-timeout", "2h", "-max-timeout", "1h"}, wantErr: "-max-timeout 1h0m0s: must be at least -min-timeout"},
		{name: "address in use", args: []string{"-addr", busy.Addr().String()}, wantErr: "listen: "},
		{name: "bad address", args: []string{"-addr", "nowhere"}, wantErr: "listen: "},
	}
	// A run that wrongly starts serving ends with this context.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(ctx, tt.args, func(string) string { return "" }, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	t.Run("unknown field names the file and the place", func(t *testing.T) {
		path := writeFile(t, "presenced.json", "{\n  \"keys\": [{\"sub_key\": \"a\", \"secret\": \"s\"}]\n}")
		err := run(ctx, []string{"-config", path}, func(string) string { return "" }, io.Discard, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "config "+path+`: line 2, column 29: keys[0]: unknown field "secret"`)
	})
	t.Run("key the API rejects names the file", func(t *testing.T) {
		path := writeFile(t, "presenced.json", `{"keys": [{"sub_key": "a/b"}]}`)
		err := run(ctx, []string{"-config", path}, func(string) string { return "" }, io.Discard, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "config "+path+": ")
	})
}

func TestRunHelp(t *testing.T) {
	var out strings.Builder
	err := run(t.Context(), []string{"-h"}, func(string) string { return "" }, &out, io.Discard)
	require.NoError(t, err)
	assert.Contains(t, out.String(), "Usage: presenced")
}

// blockingHandler is a handler whose requests wait for release (or for their
// context to end) before answering 200.
type blockingHandler struct {
	entered chan struct{}
	release chan struct{}
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (h *blockingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
		_, _ = io.WriteString(w, "done")
	case <-r.Context().Done():
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// served is serve running in a test.
type served struct {
	addr string
	log  *logSink
	stop context.CancelFunc
	done chan struct{} // closed when serve has returned
	err  error         // what serve returned; read after done
}

// startServe runs serve with h and onShutdown (may be nil) on a free loopback
// port. The test's cleanup stops it and checks that it returns.
func startServe(t *testing.T, h http.Handler, onShutdown func(), drain time.Duration) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	s := &served{addr: ln.Addr().String(), log: newLogSink(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = serve(ctx, ln, h, onShutdown, slog.New(slog.NewTextHandler(s.log, nil)), drain)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(waitTimeout):
			t.Error("serve did not return")
		}
	})
	return s
}

// wait waits for serve to return and returns its error.
func (s *served) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(waitTimeout):
		t.Fatalf("serve did not return within %v; log:\n%s", waitTimeout, s.log.String())
		return nil
	}
}

// dialRefusedWithin dials addr until a dial fails, and reports whether one
// did before d passed. A dial that gets through is closed at once.
func dialRefusedWithin(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
		if err != nil {
			return true
		}
		_ = c.Close()
		runtime.Gosched()
	}
	return false
}

type result struct {
	status int
	body   string
	err    error
}

// getAsync performs a GET on a connection of its own and sends the result.
func getAsync(url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Get(url)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func TestServeDrainsInFlightRequest(t *testing.T) {
	h := newBlockingHandler()
	s := startServe(t, h, nil, waitTimeout)

	resp := getAsync("http://" + s.addr + "/slow")
	<-h.entered
	s.stop()
	s.log.waitMatch(t, regexp.MustCompile(`msg="shutting down"`))

	// New connections are refused while the request in flight is drained.
	// "shutting down" is logged just before Shutdown closes the listener, so
	// a dial may still get through for a moment after the line appears.
	assert.True(t, dialRefusedWithin(s.addr, waitTimeout), "the listener is closed during the drain")
	select {
	case <-s.done:
		t.Fatalf("serve returned %v with a request in flight", s.err)
	default:
	}

	close(h.release)
	r := <-resp
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "done", r.body)
	require.NoError(t, s.wait(t))
	assert.NotContains(t, s.log.String(), "did not finish in time")
}

func TestServeDrainTimeout(t *testing.T) {
	h := newBlockingHandler() // never released: only its context ends it
	s := startServe(t, h, nil, 50*time.Millisecond)

	resp := getAsync("http://" + s.addr + "/stuck")
	<-h.entered
	s.stop()
	require.NoError(t, s.wait(t))
	assert.Contains(t, s.log.String(), "in-flight requests did not finish in time")
	r := <-resp
	if r.err == nil {
		// The handler saw its context cancelled before its connection closed.
		assert.Equal(t, http.StatusServiceUnavailable, r.status)
	}
}

func TestRootHandlerRoutes(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "api "+r.URL.EscapedPath()) })
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "metrics") })
	s := startServe(t, newRootHandler(api, metrics), nil, waitTimeout)
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/healthz", http.StatusOK, "ok\n"},
		{"HEAD", "/healthz", http.StatusOK, ""},
		{"POST", "/healthz", http.StatusMethodNotAllowed, "method not allowed\n"},
		{"GET", "/metrics", http.StatusOK, "metrics"},
		{"GET", "/v2/presence/sub-key/demo/channel/a%2Fb/heartbeat", http.StatusOK, "api /v2/presence/sub-key/demo/channel/a%2Fb/heartbeat"},
		// http.ServeMux would redirect these; the API must see them as sent.
		{"GET", "/v2/presence/sub-key/demo/channel/../heartbeat", http.StatusOK, "api /v2/presence/sub-key/demo/channel/../heartbeat"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+s.addr, nil)
			require.NoError(t, err)
			req.URL.Opaque = tt.path // sent verbatim, not cleaned
			tr := &http.Transport{DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantBody, string(body))
		})
	}
}

// TestShutdownAnswersLongPolls runs serve with the real API and its Close
// registered for shutdown, as run does: a long-poll waiting when the server
// stops is answered at once with its cursor and no events, without waiting
// for the drain timeout, while another request in flight finishes normally.
func TestShutdownAnswersLongPolls(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()
	api, err := httpapi.New(eng, httpapi.Config{SubscribeHold: time.Hour})
	require.NoError(t, err)
	defer api.Close()
	others := newBlockingHandler()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			others.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	// The hold and the drain last an hour: an answer within the client's
	// bound (waitTimeout) can only come from Close.
	s := startServe(t, newRootHandler(h, http.NotFoundHandler()), func() { _ = api.Close() }, time.Hour)

	tt := subscribeHandshake(t, "http://"+s.addr, "lobby-pnpres")
	poll := getAsync("http://" + s.addr + "/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt=" + tt)
	waitSubscribeWaiting(t, api, 1)
	other := getAsync("http://" + s.addr + "/slow")
	<-others.entered
	s.stop()

	// The long-poll is answered, as if its hold had run out...
	r := <-poll
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"t":{"t":"`+tt+`","r":1},"m":[]}`, r.body)
	// ...while the other request in flight still finishes normally.
	select {
	case <-s.done:
		t.Fatal("serve returned with a request in flight")
	default:
	}
	close(others.release)
	r = <-other
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	require.NoError(t, s.wait(t))
	assert.NotContains(t, s.log.String(), "did not finish in time")
}

// subscribeHandshake subscribes to chans without a cursor on the server at
// base and returns the timetoken of the answer.
func subscribeHandshake(t *testing.T, base, chans string) string {
	t.Helper()
	status, body := get(t, base+"/v2/subscribe/demo/"+chans+"/0?uuid=watcher")
	require.Equal(t, http.StatusOK, status, body)
	var ans struct {
		T struct {
			T string `json:"t"`
		} `json:"t"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ans), body)
	require.NotEmpty(t, ans.T.T, body)
	return ans.T.T
}

// waitSubscribeWaiting waits until api holds n waiting long-polls.
func waitSubscribeWaiting(t *testing.T, api *httpapi.Handler, n int64) {
	t.Helper()
	if !waitUntil(func() bool { return api.SubscribeStats().Waiting == n }) {
		t.Fatalf("%d long-polls waiting after %v, want %d", api.SubscribeStats().Waiting, waitTimeout, n)
	}
}

// waitMetric polls /metrics on base until sample has the value want.
func waitMetric(t *testing.T, base, sample, want string) {
	t.Helper()
	var got string
	if !waitUntil(func() bool {
		_, body := get(t, base+"/metrics")
		got = metricLines(body)[sample]
		return got == want
	}) {
		t.Fatalf("%s = %q after %v, want %q", sample, got, waitTimeout, want)
	}
}

// TestRunAnswersLongPollOnCancel: when run's context ends, as on SIGTERM, a
// waiting long-poll gets an answer a PubNub client reads: its cursor and no
// events, at once rather than at the end of its hold or of the drain. Both
// last an hour, so an answer, and run's return, within the tests' bound
// (waitTimeout) can only come from the shutdown.
func TestRunAnswersLongPollOnCancel(t *testing.T) {
	s := startServer(t, nil, "-subscribe-hold", "1h", "-shutdown-timeout", "1h")
	tt := subscribeHandshake(t, "http://"+s.addr, "lobby-pnpres")
	poll := getAsync(s.url("/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt=" + tt))
	waitMetric(t, "http://"+s.addr, "presenced_subscribe_waiting", "1")

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	r := <-poll
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"t":{"t":"`+tt+`","r":1},"m":[]}`, r.body)
	require.NoError(t, <-stopped)
	assert.NotContains(t, s.log.String(), "did not finish in time")
}

// TestRunSubscribeHold: PRESENCED_SUBSCRIBE_HOLD sets the hold. The answer
// comes no earlier than the hold after the request was sent (a timer never
// fires early), and within the tests' bound, far below the default hold of
// 280 s.
func TestRunSubscribeHold(t *testing.T) {
	s := startServer(t, map[string]string{"PRESENCED_SUBSCRIBE_HOLD": "300ms"})
	tt := subscribeHandshake(t, "http://"+s.addr, "lobby-pnpres")
	start := time.Now()
	status, body := get(t, s.url("/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt="+tt))
	held := time.Since(start)
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"t":{"t":"`+tt+`","r":1},"m":[]}`, body)
	assert.GreaterOrEqual(t, held, 300*time.Millisecond, "held for the hold")
}

func TestRunSubscribeDeliversEvents(t *testing.T) {
	s := startServer(t, nil, "-subscribe-cache-bytes", "65536", "-subscribe-cache-age", "10s")
	tt := subscribeHandshake(t, "http://"+s.addr, "lobby-pnpres")
	poll := getAsync(s.url("/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt=" + tt))
	status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice"))
	require.Equal(t, http.StatusOK, status)
	r := <-poll
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `"action":"join","uuid":"alice"`)

	status, body := get(t, s.url("/metrics"))
	require.Equal(t, http.StatusOK, status)
	samples := metricLines(body)
	assert.Equal(t, "0", samples["presenced_subscribe_waiting"])
	assert.Equal(t, "1", samples["presenced_subscribe_cached_sub_keys"])
	assert.Equal(t, "1", samples["presenced_subscribe_cached_events"])
	assert.NotEqual(t, "0", samples["presenced_subscribe_cached_bytes"])
	assert.Equal(t, "0", samples["presenced_subscribe_gaps_total"])
}

func TestRunImplicitHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name          string
		args          []string
		wantOccupancy string
	}{
		{"on by default", nil, `"occupancy":1`},
		{"off", []string{"-no-implicit-heartbeat"}, `"occupancy":0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, nil, tc.args...)
			status, body := get(t, s.url("/v2/subscribe/demo/lobby/0?uuid=alice"))
			require.Equal(t, http.StatusOK, status, body)
			status, body = get(t, s.url("/v2/presence/sub-key/demo/channel/lobby"))
			require.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, tc.wantOccupancy)
		})
	}
}

// TestSignalDrainsAndExits runs main in a child process (this test binary,
// with mainEnv set), stops it with SIGTERM and checks that it exits 0 after
// logging its shutdown, and that a long-poll waiting then is answered at once
// with its cursor and no events: the hold and the drain last an hour, so an
// answer and an exit within the tests' bound can only come from the signal.
func TestSignalDrainsAndExits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-addr", "127.0.0.1:0", "-log-level", "debug", "-subscribe-hold", "1h", "-shutdown-timeout", "1h")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var log strings.Builder
	waitLine := func(re *regexp.Regexp) string {
		t.Helper()
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("child exited before logging %q; log:\n%s", re, log.String())
				}
				log.WriteString(line + "\n")
				if m := re.FindStringSubmatch(line); m != nil {
					return strings.Join(m[1:], "")
				}
			case <-ctx.Done():
				t.Fatalf("no log line %q; log:\n%s", re, log.String())
			}
		}
	}

	addr := waitLine(listeningRE)
	status, _ := get(t, "http://"+addr+"/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice")
	assert.Equal(t, http.StatusOK, status)
	waitLine(regexp.MustCompile(`msg=request endpoint=heartbeat status=200`))
	tt := subscribeHandshake(t, "http://"+addr, "lobby-pnpres")
	poll := getAsync("http://" + addr + "/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt=" + tt)
	waitMetric(t, "http://"+addr, "presenced_subscribe_waiting", "1")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	r := <-poll
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"t":{"t":"`+tt+`","r":1},"m":[]}`, r.body)
	waitLine(regexp.MustCompile(`msg="shutting down"`))
	waitLine(regexp.MustCompile(`msg=stopped`))
	for range lines {
	}
	require.NoError(t, cmd.Wait(), "exit status after SIGTERM")
	assert.NotContains(t, log.String(), "did not finish in time")
}
