package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/presenced/presence/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

const sk = "sub-c-test"

// fixedNow is the clock of every test handler: 2024-05-01T12:00:00Z.
var fixedNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// env is an engine and a handler in front of it, both released when the
// test ends. The handler reaches the engine through a proxy, not directly:
// the suite runs against a Presence that is not an *engine.Engine.
type env struct {
	t   *testing.T
	eng *engine.Engine
	p   *proxy
	h   http.Handler
	log *bytes.Buffer // what Config.Logger wrote

	mu       sync.Mutex
	observed []observation
}

type observation struct {
	endpoint string
	status   int
}

func newEnv(t *testing.T, cfg Config, ecfg engine.Config) *env {
	t.Helper()
	eng, err := engine.New(ecfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = eng.Close() })
	e := &env{t: t, eng: eng, p: newProxy(eng), log: new(bytes.Buffer)}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: e.log, mu: &e.mu}, nil))
	}
	if cfg.Observe == nil {
		cfg.Observe = func(ep string, status int, d time.Duration) {
			e.mu.Lock()
			e.observed = append(e.observed, observation{ep, status})
			e.mu.Unlock()
		}
	}
	h, err := New(e.p, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() }) // before the engine's: cleanups run last first
	e.h = h
	return e
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do serves one request built as a server would parse target.
func (e *env) do(method, target string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *env) get(target string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(http.MethodGet, target)
}

// lastObserved returns the last observation.
func (e *env) lastObserved() observation {
	e.mu.Lock()
	defer e.mu.Unlock()
	require.NotEmpty(e.t, e.observed)
	return e.observed[len(e.observed)-1]
}

func (e *env) logged() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

// beat makes uuid present on channels through the engine.
func (e *env) beat(uuid string, state map[string]string, channels ...string) {
	e.t.Helper()
	req := engine.HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: channels}
	if state != nil {
		req.State = make(map[string]json.RawMessage, len(state))
		for k, v := range state {
			req.State[k] = json.RawMessage(v)
		}
	}
	_, err := e.eng.Heartbeat(bg, req)
	require.NoError(e.t, err)
}

func (e *env) group(g string, channels ...string) {
	e.t.Helper()
	require.NoError(e.t, e.eng.AddChannelsToGroup(sk, g, channels...))
}

func (e *env) whereNow(uuid string) []string {
	e.t.Helper()
	chs, err := e.eng.WhereNow(sk, uuid)
	require.NoError(e.t, err)
	return chs
}

// checkCommon asserts the headers every answer carries.
func checkCommon(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, `text/javascript; charset="UTF-8"`, rec.Header().Get("Content-Type"))
	assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "OPTIONS, GET, POST", rec.Header().Get("Access-Control-Allow-Methods"))
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, append(bytes.Clone(got), '\n'), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./httpapi -update")
	assert.Equal(t, strings.TrimSuffix(string(want), "\n"), string(got), "golden %s", name)
}

// goldenName turns a test case name into a file name.
func goldenName(name, ext string) string {
	r := strings.NewReplacer(" ", "_", "/", "_", "=", "-", ",", "_")
	return r.Replace(name) + ext
}

// recorder is a minimal http.ResponseWriter that can be reused without
// allocating: for allocation tests and benchmarks.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func newRecorder() *recorder {
	return &recorder{header: make(http.Header), body: make([]byte, 0, 1024)}
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, p...)
	return len(p), nil
}

func (r *recorder) WriteString(s string) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, s...)
	return len(s), nil
}

// reset empties r for the next request, keeping its header map's keys.
func (r *recorder) reset() {
	r.status = 0
	r.body = r.body[:0]
}
