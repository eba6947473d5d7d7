package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/console"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

const consoleToken = "console-token-0123456789"

func TestConsoleOption(t *testing.T) {
	o, err := parseOptions(nil, func(string) string { return "" }, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Empty(t, o.consoleToken, "off by default")

	o, err = parseOptions(nil, func(k string) string { return map[string]string{"PRESENCED_CONSOLE_TOKEN": consoleToken}[k] }, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, consoleToken, o.consoleToken)

	_, err = parseOptions([]string{"-console-token", "short-secret"}, func(string) string { return "" }, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-console-token: 12 bytes, at least 16")
	assert.NotContains(t, err.Error(), "short-secret", "the error does not repeat the token")
}

func TestRootHandlerRoutesConsole(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) })
	}
	h := newRootHandler(named("api"), named("metrics"))
	serve := func(path string) string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Body.String()
	}
	assert.Equal(t, "api", serve("/console/"), "off: the API's, as before")
	h.console = named("console")
	for path, want := range map[string]string{
		"/console": "console", "/console/": "console", "/console/api/stream": "console",
		"/consoles": "api", "/v2/presence/sub-key/console/channel/a": "api", "/metrics": "metrics",
	} {
		assert.Equal(t, want, serve(path), path)
	}
}

// Without a token the console is off: /console/ is the API's 404, exactly
// as before.
func TestRunConsoleOff(t *testing.T) {
	s := startServer(t, nil)
	status, body := get(t, s.url("/console/"))
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, `{"status":404,"error":true,"message":"Not found: '/console/'","service":"Presence"}`, body)
	assert.NotContains(t, s.log.String(), "msg=console")
}

func TestRunConsole(t *testing.T) {
	s := startServer(t, map[string]string{"PRESENCED_CONSOLE_TOKEN": consoleToken})
	assert.Contains(t, s.log.String(), "msg=console path=/console/")
	status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60"))
	require.Equal(t, http.StatusOK, status)

	status, body := get(t, s.url("/console/api/channels?sub_key=demo"))
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.NotContains(t, body, "lobby")

	status, body = getAuth(t, s.url("/console/api/channels?sub_key=demo"))
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"sub_key":"demo","filter":"","channels":[{"channel":"lobby","occupancy":1}],"matched":1,"members":1,"next":null}`, body)
	status, body = getAuth(t, s.url("/console/"))
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "<title>presenced console</title>")
}

// A page left open does not hold the shutdown: its stream is told bye and
// ends, although the drain would wait an hour.
func TestRunConsoleShutdownEndsStreams(t *testing.T) {
	s := startServer(t, map[string]string{"PRESENCED_CONSOLE_TOKEN": consoleToken}, "-shutdown-timeout", "1h")
	req, err := http.NewRequest(http.MethodGet, s.url("/console/api/stream?sub_key=demo"), nil)
	require.NoError(t, err)
	req.SetBasicAuth("operator", consoleToken)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	lines := bufio.NewScanner(res.Body)
	require.True(t, lines.Scan())
	assert.Equal(t, "event: hello", lines.Text())

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	var last string
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "event: ") {
			last = lines.Text()
		}
	}
	assert.Equal(t, "event: bye", last)
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("presenced did not stop with a console page open")
	}
}

// getAuth is get with the console's credentials.
func getAuth(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.SetBasicAuth("operator", consoleToken)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

// With the console on, the heartbeat of a present member still allocates
// nothing in the root handler.
func TestRootHandlerConsoleAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("allocation counts are meaningless with -race: sync.Pool drops items at random")
	}
	e, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer e.Close()
	api, err := httpapi.New(e, httpapi.Config{})
	require.NoError(t, err)
	defer api.Close()
	con, err := console.New(e, console.Config{Token: consoleToken})
	require.NoError(t, err)
	defer con.Close()
	root := newRootHandler(api, http.NotFoundHandler())
	root.console = con
	r := httptest.NewRequest(http.MethodGet, "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60", nil)
	w := &discard{h: http.Header{}}
	root.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.code)
	viaAPI := testing.AllocsPerRun(100, func() { api.ServeHTTP(w, r) })
	viaRoot := testing.AllocsPerRun(100, func() { root.ServeHTTP(w, r) })
	assert.Equal(t, viaAPI, viaRoot)
}
