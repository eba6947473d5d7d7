// Loadgen measures presenced's heartbeat throughput and latency on loopback,
// next to a bare net/http server that answers every request with the same
// 200 response, in the same run.
//
//	go run ./cmd/presenced/loadgen [-presenced PATH] [-uuids 1000,100000] [-requests 200000] [-conns 16] [-rounds 3]
//
// It starts two child processes on 127.0.0.1:0: presenced (the binary at
// -presenced, or one it builds from ./cmd/presenced) with default settings,
// and itself in -serve-bare mode. For each uuid count N it first sends one
// heartbeat per uuid (the joins, not measured), checks with Here Now that the
// channel holds N members, then, in each round, sends -requests heartbeats
// cycling over the N uuids (refreshes of present members) to the bare server
// and to presenced in turn, over -conns keep-alive connections, and reports
// heartbeats per second and latency percentiles. A round against a target
// uses a fresh set of connections. Every request has a deadline and the whole
// run is bounded by -timeout; it stops by itself and talks only to the
// loopback addresses of the servers it started.
//
// The client is a minimal HTTP/1.1 keep-alive client (one request at a time
// per connection, like wrk without pipelining), much cheaper than
// net/http's, so that the figures show the servers rather than the client.
// Client and servers share the machine's cores.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	presenced string
	uuids     []int
	requests  int
	conns     int
	rounds    int
	timeout   time.Duration
}

func run() error {
	var (
		cfg       config
		uuidsFlag string
		serveBare bool
	)
	flag.StringVar(&cfg.presenced, "presenced", "", "presenced binary to measure; empty builds ./cmd/presenced")
	flag.StringVar(&uuidsFlag, "uuids", "1000,100000", "comma-separated counts of distinct uuids")
	flag.IntVar(&cfg.requests, "requests", 200000, "heartbeats per measured round and target")
	flag.IntVar(&cfg.conns, "conns", 16, "concurrent keep-alive connections")
	flag.IntVar(&cfg.rounds, "rounds", 3, "measured rounds per uuid count and target")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "bound of the whole run")
	flag.BoolVar(&serveBare, "serve-bare", false, "internal: serve the bare server on 127.0.0.1:0")
	flag.Parse()

	if serveBare {
		return runBare()
	}
	for _, s := range strings.Split(uuidsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-uuids: %q is not a positive count", s)
		}
		cfg.uuids = append(cfg.uuids, n)
	}
	if cfg.requests <= 0 || cfg.conns <= 0 || cfg.rounds <= 0 {
		return errors.New("-requests, -conns and -rounds must be positive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	tmp, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if cfg.presenced == "" {
		cfg.presenced = filepath.Join(tmp, "presenced")
		build := exec.CommandContext(ctx, "go", "build", "-o", cfg.presenced, "./cmd/presenced")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/presenced (run from the module root, or pass -presenced): %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	presenced, err := startChild(ctx, "presenced", cfg.presenced, "-addr", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer presenced.stop()
	bare, err := startChild(ctx, "bare", self, "-serve-bare")
	if err != nil {
		return err
	}
	defer bare.stop()

	fmt.Printf("loadgen: GOOS=%s GOARCH=%s NumCPU=%d %s; conns=%d requests/round=%d rounds=%d\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), cfg.conns, cfg.requests, cfg.rounds)
	if err := compareResponses(presenced.addr, bare.addr); err != nil {
		return err
	}

	var results []result
	for _, n := range cfg.uuids {
		w := newWorkload(n)
		for _, target := range []*child{bare, presenced} {
			start := time.Now()
			if _, err := measure(ctx, target.addr, w, n, cfg.conns); err != nil {
				return fmt.Errorf("%s: joining %d uuids: %w", target.name, n, err)
			}
			fmt.Printf("loadgen: %s: %d joins in %v\n", target.name, n, time.Since(start).Round(time.Millisecond))
		}
		if err := checkOccupancy(presenced.addr, w.channel, n); err != nil {
			return err
		}
		for r := 1; r <= cfg.rounds; r++ {
			order := []*child{bare, presenced}
			if r%2 == 0 {
				order = []*child{presenced, bare} // alternate, so neither always runs first
			}
			for _, target := range order {
				res, err := measure(ctx, target.addr, w, cfg.requests, cfg.conns)
				if err != nil {
					return fmt.Errorf("%s: %d uuids, round %d: %w", target.name, n, r, err)
				}
				res.target, res.uuids, res.round = target.name, n, r
				results = append(results, res)
				fmt.Printf("loadgen: %-9s uuids=%-6d round=%d %9.0f heartbeats/s p50=%v p99=%v\n",
					res.target, n, r, res.rate(), res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond))
			}
		}
	}
	report(os.Stdout, results, cfg.uuids)
	return nil
}

// workload is the heartbeat requests of n distinct uuids on one channel,
// rendered once as raw HTTP/1.1 requests without a Host header (added per
// target).
type workload struct {
	channel string
	paths   []string
}

func newWorkload(n int) *workload {
	w := &workload{channel: fmt.Sprintf("load-%d", n), paths: make([]string, n)}
	for i := range n {
		w.paths[i] = fmt.Sprintf("/v2/presence/sub-key/load/channel/%s/heartbeat?uuid=user-%07d&heartbeat=300", w.channel, i)
	}
	return w
}

// rawRequests returns the workload's requests as bytes addressed to host.
func (w *workload) rawRequests(host string) [][]byte {
	out := make([][]byte, len(w.paths))
	for i, p := range w.paths {
		out[i] = []byte("GET " + p + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: loadgen\r\n\r\n")
	}
	return out
}

type result struct {
	target       string
	uuids, round int
	requests     int
	elapsed      time.Duration
	p50, p90     time.Duration
	p99, max     time.Duration
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// requestTimeout bounds one request.
const requestTimeout = 10 * time.Second

// measure sends total requests to addr over conns connections, cycling over
// the workload's requests, and returns the throughput and latencies. Any
// answer but 200 is an error.
func measure(ctx context.Context, addr string, w *workload, total, conns int) (result, error) {
	reqs := w.rawRequests(addr)
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{addr: addr}
			defer cl.close()
			mine := make([]time.Duration, 0, total/conns+1)
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					break
				}
				if ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				t0 := time.Now()
				if err := cl.do(reqs[i%len(reqs)]); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[c] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return result{requests: total, elapsed: elapsed, p50: pct(0.50), p90: pct(0.90), p99: pct(0.99), max: all[len(all)-1]}, nil
}

// client is one keep-alive HTTP/1.1 connection sending one request at a time.
type client struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

var errStatus = errors.New("answer is not 200")

// do sends req and reads the whole answer, which must be a 200 with a
// Content-Length. It reconnects when needed.
func (c *client) do(req []byte) error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, requestTimeout)
		if err != nil {
			return err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 4096)
	}
	if err := c.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("%w: %q", errStatus, bytes.TrimSpace(line))
	}
	length, closing := -1, false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return errors.New("answer without Content-Length")
	}
	if _, err := c.br.Discard(length); err != nil {
		return err
	}
	if closing {
		c.close()
	}
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// compareResponses fetches one heartbeat answer from each server and prints
// their sizes, to show that the bare server answers like presenced.
func compareResponses(presencedAddr, bareAddr string) error {
	fetch := func(addr string) (int, string, error) {
		conn, err := net.DialTimeout("tcp", addr, requestTimeout)
		if err != nil {
			return 0, "", err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(requestTimeout))
		_, err = io.WriteString(conn, "GET /v2/presence/sub-key/load/channel/probe/heartbeat?uuid=probe HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
		if err != nil {
			return 0, "", err
		}
		b, err := io.ReadAll(conn)
		_, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		return len(b), string(body), err
	}
	pn, pBody, err := fetch(presencedAddr)
	if err != nil {
		return fmt.Errorf("presenced: %w", err)
	}
	bn, bBody, err := fetch(bareAddr)
	if err != nil {
		return fmt.Errorf("bare: %w", err)
	}
	if pBody != bBody {
		return fmt.Errorf("bodies differ: presenced %q, bare %q", pBody, bBody)
	}
	fmt.Printf("loadgen: heartbeat answer %q: presenced %d bytes, bare %d bytes with headers (Connection: close)\n", pBody, pn, bn)
	return nil
}

var occupancyRE = regexp.MustCompile(`"occupancy":(\d+)`)

// checkOccupancy checks with Here Now that channel holds want members.
func checkOccupancy(addr, channel string, want int) error {
	c := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/v2/presence/sub-key/load/channel/" + channel + "?disable_uuids=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	m := occupancyRE.FindSubmatch(b)
	if m == nil || string(m[1]) != strconv.Itoa(want) {
		return fmt.Errorf("here now on %s: want occupancy %d, got %s", channel, want, b)
	}
	return nil
}

// report prints, per uuid count, the median over rounds of each target's
// throughput and p99, and presenced's throughput as a share of bare's.
func report(w io.Writer, results []result, uuids []int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "uuids\ttarget\theartbeats/s (median)\tp50\tp99 (median)\tp99 (worst round)\tof bare\t")
	for _, n := range uuids {
		var bareRate float64
		for _, target := range []string{"bare", "presenced"} {
			var rates []float64
			var p50s, p99s []time.Duration
			for _, r := range results {
				if r.uuids == n && r.target == target {
					rates = append(rates, r.rate())
					p50s = append(p50s, r.p50)
					p99s = append(p99s, r.p99)
				}
			}
			rate := median(rates)
			share := "100%"
			if target == "bare" {
				bareRate = rate
			} else {
				share = fmt.Sprintf("%.0f%%", 100*rate/bareRate)
			}
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%v\t%v\t%v\t%s\t\n", n, target, rate, median(p50s).Round(time.Microsecond), median(p99s).Round(time.Microsecond), slices.Max(p99s).Round(time.Microsecond), share)
		}
	}
	tw.Flush()
}

func median[T int64 | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// child is a server process started by startChild.
type child struct {
	name string
	addr string
	cmd  *exec.Cmd
	done chan error
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startChild starts a server process that logs "msg=listening addr=..." on
// stderr and waits (at most 10 s) for that line.
func startChild(ctx context.Context, name, path string, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan error, 1)}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addrCh <- m[1]
			} else if found {
				fmt.Fprintf(os.Stderr, "%s: %s\n", name, sc.Text())
			}
		}
		c.done <- cmd.Wait()
	}()
	select {
	case c.addr = <-addrCh:
		return c, nil
	case err := <-c.done:
		return nil, fmt.Errorf("%s exited before listening: %v", name, err)
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	c.stop()
	return nil, fmt.Errorf("%s did not log its address within 10 s", name)
}

// stop sends SIGTERM and waits up to 15 s, then kills the process.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// bareBody is the answer presenced gives to a heartbeat.
const bareBody = `{"status":200,"message":"OK","service":"Presence"}`

// runBare serves bareBody, with the headers presenced sends, to every
// request on 127.0.0.1:0 until SIGINT or SIGTERM.
func runBare() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", `text/javascript; charset="UTF-8"`)
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Methods", "OPTIONS, GET, POST")
			h.Set("Cache-Control", "no-cache")
			h.Set("Content-Length", strconv.Itoa(len(bareBody)))
			_, _ = io.WriteString(w, bareBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(os.Stderr, "msg=listening addr=%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
