package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// mainEnv, set to 1, makes the test binary run main instead of the tests:
// TestSignalDrainsAndExits starts the server that way as a child process.
const mainEnv = "PRESENCED_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of these tests. Waits end on the event or
// condition they wait for; the bound only turns a hang into a failure, and is
// generous so that a slow or busy machine never reaches it. No test asserts
// how long something took on the real clock, except that a timer did not
// fire early: the engine's and httpapi's tests check timeliness in virtual
// time.
const waitTimeout = 30 * time.Second

// waitUntil calls cond until it holds, sleeping a little longer each time
// (1 ms doubling up to 50 ms), and reports false if waitTimeout passes first.
func waitUntil(cond func() bool) bool {
	deadline := time.Now().Add(waitTimeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
	return true
}

// logSink is an io.Writer collecting log lines, safe for concurrent use,
// that tests can wait on.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at every write
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitMatch waits until the log holds a match of re and returns its first
// submatch (or the whole match when re has no group).
func (s *logSink) waitMatch(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		s.mu.Lock()
		m := re.FindStringSubmatch(s.buf.String())
		changed := s.changed
		s.mu.Unlock()
		if m != nil {
			return strings.Join(m[1:], "")
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line matching %q within %v; log:\n%s", re, waitTimeout, s.String())
		}
	}
}

// listeningRE finds the address in the "listening" line, text or JSON.
var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// server is presenced started in-process by startServer.
type server struct {
	addr   string
	log    *logSink
	stdout *logSink
	stop   func() error // cancels run's context and returns what run returned
}

// startServer runs presenced with args (and the given environment) on a free
// loopback port and waits for its "listening" line. The server is stopped at
// the end of the test if the test has not stopped it.
func startServer(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	s := &server{log: newLogSink(), stdout: newLogSink()}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), getenv, s.stdout, s.log)
	}()
	var once sync.Once
	var runErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitTimeout):
				t.Errorf("run did not return within %v after cancel; log:\n%s", waitTimeout, s.log.String())
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = s.stop() })

	// Fail fast if run returns before listening.
	found := make(chan string, 1)
	go func() {
		defer close(found)
		deadline := time.After(waitTimeout)
		for {
			s.log.mu.Lock()
			m := listeningRE.FindStringSubmatch(s.log.buf.String())
			changed := s.log.changed
			s.log.mu.Unlock()
			if m != nil {
				found <- m[1] + m[2]
				return
			}
			select {
			case <-changed:
			case <-deadline:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case addr, ok := <-found:
		require.True(t, ok, "server did not log its address; log:\n%s", s.log.String())
		s.addr = addr
	case err := <-done:
		done <- err
		t.Fatalf("run returned before listening: %v; log:\n%s", err, s.log.String())
	}
	return s
}

// url returns the URL of path on the server.
func (s *server) url(path string) string { return "http://" + s.addr + path }

// get performs a GET on a connection of its own and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: waitTimeout}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// metricLines returns the lines of a Prometheus exposition that are samples
// (not comments), keyed by the metric name and labels.
func metricLines(body string) map[string]string {
	out := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}
