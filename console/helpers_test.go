package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testToken = "test-token-0123456789"
	sk        = "demo"
)

// newEngine returns an engine closed when the test ends.
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// newConsole returns a console of p closed when the test ends.
func newConsole(t *testing.T, p httpapi.Presence, cfg Config) *Console {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	c, err := New(p, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// beat heartbeats uuid on channel of sub key sk for timeout, with state if
// not empty.
func beat(t *testing.T, p httpapi.Presence, uuid, channel string, timeout time.Duration, state string) {
	t.Helper()
	r := engine.HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: []string{channel}, Timeout: timeout}
	if state != "" {
		r.State = map[string]json.RawMessage{channel: json.RawMessage(state)}
	}
	_, err := p.Heartbeat(context.Background(), r)
	require.NoError(t, err)
}

// get serves GET path (with its query) with the token, or without
// credentials if auth is false.
func get(c http.Handler, path string, auth bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if auth {
		r.SetBasicAuth("operator", testToken)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w
}

// getJSON serves GET path with the token, requires 200 and decodes the body.
func getJSON[T any](t *testing.T, c http.Handler, path string) T {
	t.Helper()
	w := get(c, path, true)
	require.Equal(t, http.StatusOK, w.Code, "GET %s: %s", path, w.Body)
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), w.Body.String())
	return v
}

// streamRecorder is a ResponseWriter for a stream, safe to read while the
// handler writes.
type streamRecorder struct {
	mu     sync.Mutex
	header http.Header
	code   int
	buf    bytes.Buffer
	read   int // bytes already handed out by messages
}

func newStreamRecorder() *streamRecorder { return &streamRecorder{header: http.Header{}} }

func (r *streamRecorder) Header() http.Header { return r.header }

func (r *streamRecorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.code == 0 {
		r.code = code
	}
}

func (r *streamRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.buf.Write(b)
}

func (r *streamRecorder) Flush() {}

// message is one Server-Sent Event.
type message struct {
	event string
	data  string
}

func (m message) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(m.data), v), m.data)
}

// messages returns the whole events written since the last call.
func (r *streamRecorder) messages(t *testing.T) []message {
	t.Helper()
	r.mu.Lock()
	all := r.buf.Bytes()
	end := bytes.LastIndex(all, []byte("\n\n"))
	var chunk []byte
	if end >= r.read {
		chunk = append(chunk, all[r.read:end+2]...)
		r.read = end + 2
	}
	r.mu.Unlock()
	var out []message
	sc := bufio.NewScanner(bytes.NewReader(chunk))
	sc.Buffer(nil, 1<<24)
	var m message
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m.event != "" {
				out = append(out, m)
			}
			m = message{}
		case strings.HasPrefix(line, "event: "):
			m.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			require.Empty(t, m.data, "one data line per event")
			m.data = line[len("data: "):]
		case strings.HasPrefix(line, ": "):
		default:
			t.Fatalf("unexpected stream line %q", line)
		}
	}
	return out
}

// byEvent returns the messages named event.
func byEvent(ms []message, event string) []message {
	var out []message
	for _, m := range ms {
		if m.event == event {
			out = append(out, m)
		}
	}
	return out
}

// openStream serves GET path as a stream on a goroutine of its own; close
// cancels the request and waits for the handler to return.
func openStream(c http.Handler, path string) (rec *streamRecorder, closeStream func()) {
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest(http.MethodGet, path, nil).WithContext(ctx)
	r.SetBasicAuth("operator", testToken)
	rec = newStreamRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ServeHTTP(rec, r)
	}()
	return rec, func() { cancel(); <-done }
}

// readOnly forwards a Presence's reads and counts calls to the methods
// that change presence: the console must make none.
type readOnly struct {
	httpapi.Presence
	mu     sync.Mutex
	writes []string
}

func (p *readOnly) wrote(name string) {
	p.mu.Lock()
	p.writes = append(p.writes, name)
	p.mu.Unlock()
}

func (p *readOnly) written() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.writes...)
}

func (p *readOnly) Heartbeat(ctx context.Context, r engine.HeartbeatRequest) (engine.HeartbeatResult, error) {
	p.wrote("Heartbeat")
	return p.Presence.Heartbeat(ctx, r)
}

func (p *readOnly) Leave(ctx context.Context, r engine.LeaveRequest) (engine.LeaveResult, error) {
	p.wrote("Leave")
	return p.Presence.Leave(ctx, r)
}

func (p *readOnly) SetState(ctx context.Context, r engine.SetStateRequest) (json.RawMessage, error) {
	p.wrote("SetState")
	return p.Presence.SetState(ctx, r)
}

func (p *readOnly) AddChannelsToGroup(subKey, group string, channels ...string) error {
	p.wrote("AddChannelsToGroup")
	return p.Presence.AddChannelsToGroup(subKey, group, channels...)
}

func (p *readOnly) RemoveChannelsFromGroup(subKey, group string, channels ...string) error {
	p.wrote("RemoveChannelsFromGroup")
	return p.Presence.RemoveChannelsFromGroup(subKey, group, channels...)
}

func (p *readOnly) DeleteGroup(subKey, group string) error {
	p.wrote("DeleteGroup")
	return p.Presence.DeleteGroup(subKey, group)
}

// inspecting is readOnly that is also an Inspector.
type inspecting struct {
	*readOnly
	insp Inspector
}

func (p inspecting) SubKeys() ([]engine.SubKeyStats, error) { return p.insp.SubKeys() }

func (p inspecting) TopChannels(r engine.TopChannelsRequest) (engine.TopChannelsResult, error) {
	return p.insp.TopChannels(r)
}

func ctx() context.Context { return context.Background() }
