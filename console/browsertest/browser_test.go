package browsertest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/presenced/presence/console"
)

var update = flag.Bool("update", false, "write the screenshot to ../console.png, the picture README.md shows")

// token is the console's password in these tests.
const token = "browser-test-token-0123456789"

// Bounds of the waits: generous, since the machine may be busy. No test
// asserts how long anything took.
const (
	waitFor   = 30 * time.Second
	buildTime = 5 * time.Minute
)

// TestConsole logs in to presenced's console in headless Chromium, watches
// a channel's occupancy, a member's join, its countdown and its timeout
// arrive without a reload, pauses the tail, filters the channels, and
// checks that a hostile uuid is shown as text. It takes the screenshot
// README.md shows (written to ../console.png with -update).
func TestConsole(t *testing.T) {
	srv := startPresenced(t)
	srv.seed(t)

	// Without the token, nothing but a challenge.
	res, err := http.Get(srv.base + console.DefaultPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") || strings.Contains(string(body), "lobby") {
		t.Fatalf("GET %s without credentials: %d, WWW-Authenticate %q, body %q; want a 401 challenge", console.DefaultPath, res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}

	b := newBrowser(t)

	// A browser that cancels the challenge sees the 401 page.
	b.do(t, chromedp.Navigate(srv.base+console.DefaultPath))
	if text := b.eval(t, `document.body.innerText`); !strings.Contains(text, "401 Unauthorized") {
		t.Fatalf("page without credentials says %q, want the 401", text)
	}

	// Log in, the way a person answers the browser's password prompt.
	b.login("operator", token)
	b.do(t, chromedp.Navigate("about:blank")) // the console's URL differs only by its fragment: no load
	b.do(t, chromedp.Navigate(srv.base+console.DefaultPath+"#sub_key=demo"))
	b.wait(t, "the console's title", `document.title === "presenced console"`)
	b.wait(t, "lobby's occupancy of 3", occupancyIs("lobby", 3))
	b.wait(t, "the totals", `document.getElementById("total-members").textContent === "34"`)
	b.do(t, chromedp.Evaluate[chromedp.Void](`window.__page = "first load"`))

	// The members of lobby, with their state and time left.
	b.do(t, chromedp.Click(chromedp.CSS(`#channels tr[data-channel="lobby"]`)))
	b.wait(t, "alice's state in lobby", `(document.querySelector('#members tr[data-uuid="alice"] td.state')?.textContent || "").includes('"mood":"happy"')`)

	// The charts fill in, a point a second, with some churn on game-42.
	stopChurn := srv.churn(t)
	b.wait(t, "a dozen points on the members chart", `Number(document.getElementById("chart-members").dataset.points) >= 12`)

	// dave joins lobby: his join in the tail, then in the table, with his
	// time left counting down. He heartbeats until the page has shown all
	// that, so that no real-time window is assumed.
	stopDave := srv.keepBeating(t, "demo", "lobby", "dave", 2)
	b.wait(t, "dave's join in the tail", tailHas("join", "dave"))
	b.wait(t, "dave in lobby's members", memberShown("dave"))
	b.wait(t, "lobby's occupancy of 4", occupancyIs("lobby", 4))
	b.wait(t, "dave's countdown", `/^\d+\.\d s$/.test(document.querySelector('#members tr[data-uuid="dave"] td.left')?.textContent || "")`)
	stopChurn()
	b.screenshot(t)
	stopDave()

	// He stops: he times out, and the page shows it.
	b.wait(t, "dave's timeout in the tail", tailHas("timeout", "dave"))
	b.wait(t, "dave gone from lobby's members", "!"+memberShown("dave"))
	b.wait(t, "lobby's occupancy back to 3", occupancyIs("lobby", 3))
	if page := b.eval(t, `window.__page`); page != "first load" {
		t.Fatalf("window.__page is %q: the page was reloaded", page)
	}

	// The filter box, case-insensitive.
	b.do(t, chromedp.SendKeys(chromedp.ID("filter"), "KIT"))
	b.wait(t, "only kitchen listed", `[...document.querySelectorAll("#channels tbody tr[data-channel]")].map(r => r.dataset.channel).join() === "kitchen"`)

	// Paused, the tail holds new events back and counts them. On sub key
	// staging, where no channel is in interval mode: demo's game-42 has an
	// interval event every 2 s, which a pause could catch as well.
	b.do(t, chromedp.Navigate("about:blank"))
	b.do(t, chromedp.Navigate(srv.base+console.DefaultPath+"#sub_key=staging"))
	b.wait(t, "smoke-test's occupancy of 3", occupancyIs("smoke-test", 3))
	b.do(t, chromedp.Click(chromedp.ID("pause")))
	srv.heartbeat(t, "staging", "smoke-test", "erin", 300, "")
	b.wait(t, "the pause button counting erin's join", `document.getElementById("pause").textContent === "Resume (1 new)"`)
	if b.eval(t, fmt.Sprint(tailHas("join", "erin"))) == "true" {
		t.Fatal("erin's join is in the tail while it is paused")
	}
	b.do(t, chromedp.Click(chromedp.ID("pause")))
	b.wait(t, "erin's join in the tail once resumed", tailHas("join", "erin"))

	// A uuid made of HTML is text on the page, and runs nothing.
	b.do(t, chromedp.Navigate("about:blank"))
	b.do(t, chromedp.Navigate(srv.base+console.DefaultPath+"#sub_key=demo&channel=quarantine"))
	b.wait(t, "the hostile uuid shown", `[...document.querySelectorAll("#members td.uuid")].some(td => td.textContent === `+jsString(hostileUUID)+`)`)
	if got := b.eval(t, `String(document.querySelectorAll("#members img, #members script").length) + " " + String(window.__xss)`); got != "0 undefined" {
		t.Fatalf("elements injected and window.__xss: %q, want none", got)
	}
}

// hostileUUID would run a script if the page put it in as HTML.
const hostileUUID = `<img src=x onerror="window.__xss=1">`

func occupancyIs(channel string, n int) string {
	return fmt.Sprintf(`document.querySelector('#channels tr[data-channel="%s"] .occupancy')?.textContent === "%d"`, channel, n)
}

func tailHas(action, uuid string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#tail tr[data-action="%s"]')].some(r => r.dataset.uuid === "%s")`, action, uuid)
}

func memberShown(uuid string) string {
	return fmt.Sprintf(`!!document.querySelector('#members tr[data-uuid="%s"]')`, uuid)
}

func jsString(s string) string {
	return "`" + strings.NewReplacer("`", "\\`", "\\", "\\\\", "$", "\\$").Replace(s) + "`"
}

// browser is a headless Chromium tab that answers the console's password
// prompt with the credentials set by login, and cancels it before.
type browser struct {
	ctx   context.Context
	creds atomic.Pointer[[2]string]
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromium(t)
	// The flags the machine's closed network needs, and a profile of its own.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("force-prefers-reduced-motion", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1100),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx}
	// The first action starts the browser, which lives as long as the
	// context of that action: b.ctx, not one with a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}

	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auth := chromedp.Events(ctx, fetch.AuthRequired)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range auth {
			if err != nil {
				return
			}
			answer := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if c := b.creds.Load(); c != nil {
				answer = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: c[0], Password: c[1]}
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer})
		}
	}()
	t.Cleanup(func() { cancelTab(); wg.Wait() })
	yes := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) login(user, password string) { b.creds.Store(&[2]string{user, password}) }

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval returns the value of a JavaScript expression, as a string.
func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return fmt.Sprint(v)
}

// wait waits, at most waitFor, until the expression is true on the page.
func (b *browser) wait(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitFor), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		state := b.eval(t, `document.getElementById("status-text")?.textContent + " | " + (document.getElementById("banner")?.textContent || "")`)
		t.Fatalf("waiting for %s: %v (page status: %s)", what, err, state)
	}
}

// screenshot takes the viewport's picture: to a temporary file always, and
// to ../console.png with -update.
func (b *browser) screenshot(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot of %d bytes is not a picture of the page", len(png))
	}
	name := filepath.Join(t.TempDir(), "console.png")
	if *update {
		name = filepath.Join("..", "console.png")
	}
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", name, len(png))
}

// chromium returns the browser to run: $CHROMIUM, or Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: install Debian's (apt-get install chromium), as .ci/run does, or set CHROMIUM")
	return ""
}

// server is a presenced process with its console on.
type server struct {
	base string
	cmd  *exec.Cmd
	log  *logBuffer
}

func startPresenced(t *testing.T) *server {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "presenced")
	ctx, cancel := context.WithTimeout(context.Background(), buildTime)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/presenced")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/presenced: %v\n%s", err, out)
	}
	// Short presence timeouts and a fine tick, so that a timeout takes
	// seconds; interval events above 12 members, to show some. The token
	// comes from the environment, as the documentation advises.
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-min-timeout", "1s", "-tick", "100ms",
		"-announce-max", "12", "-interval", "2s", "-deltas", "-log-format", "text")
	cmd.Env = append(os.Environ(), "PRESENCED_CONSOLE_TOKEN="+token)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, log: &logBuffer{}}
	addr := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.add(sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { <-copied; exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("presenced exited with %v after SIGTERM\n%s", err, s.log)
			}
		case <-time.After(waitFor):
			_ = cmd.Process.Kill()
			t.Errorf("presenced did not exit within %v of SIGTERM\n%s", waitFor, s.log)
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-time.After(waitFor):
		t.Fatalf("presenced did not log its address\n%s", s.log)
	}
	if !strings.Contains(s.log.String(), "msg=console") {
		t.Fatalf("presenced did not log its console\n%s", s.log)
	}
	return s
}

// heartbeat sends one PubNub heartbeat; state, if not empty, is the
// member's state object on channel.
func (s *server) heartbeat(t *testing.T, subKey, channel, uuid string, timeout int, state string) {
	t.Helper()
	if err := s.get(s.heartbeatURL(subKey, channel, uuid, timeout, state)); err != nil {
		t.Fatal(err)
	}
}

func (s *server) heartbeatURL(subKey, channel, uuid string, timeout int, state string) string {
	q := url.Values{"uuid": {uuid}, "heartbeat": {fmt.Sprint(timeout)}}
	if state != "" {
		q.Set("state", fmt.Sprintf(`{%q:%s}`, channel, state))
	}
	return fmt.Sprintf("%s/v2/presence/sub-key/%s/channel/%s/heartbeat?%s", s.base, subKey, url.PathEscape(channel), q.Encode())
}

func (s *server) get(u string) error {
	res, err := http.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", u, res.StatusCode, body)
	}
	return nil
}

// seed fills sub key demo (34 members on 6 channels) and staging.
func (s *server) seed(t *testing.T) {
	t.Helper()
	const long = 3000 // seconds: nobody seeded times out during the test
	beat := func(ch, uuid, state string) { s.heartbeat(t, "demo", ch, uuid, long, state) }
	beat("lobby", "alice", `{"mood":"happy","device":"ios"}`)
	beat("lobby", "bob", `{"mood":"busy"}`)
	beat("lobby", "carol", "")
	for i := 1; i <= 14; i++ {
		team := []string{"red", "blue"}[i%2]
		beat("game-42", fmt.Sprintf("player-%02d", i), fmt.Sprintf(`{"team":%q,"score":%d}`, team, 100*i%370))
	}
	beat("support", "staff-ana", `{"role":"staff","queue":"billing"}`)
	for i := 1; i <= 4; i++ {
		beat("support", fmt.Sprintf("customer-%d", 1000+i*37), `{"waiting_since":"09:4`+fmt.Sprint(i)+`"}`)
	}
	beat("kitchen", "chef-li", `{"station":"grill"}`)
	beat("kitchen", "chef-mo", "")
	for i := 1; i <= 9; i++ {
		beat("eu-west.chat", fmt.Sprintf("user-%x", 0xa13f+i*7919), "")
	}
	beat("quarantine", hostileUUID, "")
	for i := 1; i <= 3; i++ {
		s.heartbeat(t, "staging", "smoke-test", fmt.Sprintf("probe-%d", i), long, "")
	}
}

// churn makes four guests join game-42 (in interval mode) and support, one
// step at a time, then leave, and again, until the returned func is called,
// so that the charts and the tail have something to show.
func (s *server) churn(t *testing.T) (stop func()) {
	t.Helper()
	return s.loop(t, 150*time.Millisecond, func(i int) string {
		channel, state := "game-42", ""
		if i%2 == 1 {
			channel, state = "support", `{"via":"web"}`
		}
		uuid := fmt.Sprintf("guest-%d", i/2%4)
		if i/8%2 == 0 {
			return s.heartbeatURL("demo", channel, uuid, 3000, state)
		}
		return fmt.Sprintf("%s/v2/presence/sub-key/demo/channel/%s/leave?uuid=%s", s.base, channel, uuid)
	})
}

// keepBeating heartbeats uuid on channel every half second, with the given
// timeout, until the returned func is called.
func (s *server) keepBeating(t *testing.T, subKey, channel, uuid string, timeout int) (stop func()) {
	t.Helper()
	s.heartbeat(t, subKey, channel, uuid, timeout, "")
	return s.loop(t, 500*time.Millisecond, func(int) string { return s.heartbeatURL(subKey, channel, uuid, timeout, "") })
}

// loop GETs next(i) every period, i = 0, 1, ..., for at most 2 minutes or
// until stop is called; stop waits for it and fails the test on an error.
func (s *server) loop(t *testing.T, period time.Duration, next func(i int) string) (stop func()) {
	done := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		deadline := time.After(2 * time.Minute)
		for i := 0; ; i++ {
			if err := s.get(next(i)); err != nil {
				result <- err
				return
			}
			select {
			case <-done:
				result <- nil
				return
			case <-deadline:
				result <- errors.New("loop ran for 2 minutes without being stopped")
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			if err := <-result; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// logBuffer keeps presenced's log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
