package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presence/engine"
)

// Environment of the client process BenchmarkSubscribeLongPoll starts.
const (
	benchEnvAddr   = "PRESENCE_SUBBENCH_ADDR"
	benchEnvPolls  = "PRESENCE_SUBBENCH_POLLS"
	benchEnvFanout = "PRESENCE_SUBBENCH_FANOUT"
)

// BenchmarkSubscribeLongPoll holds concurrent subscribe long-polls on
// loopback, one connection each, and reports:
//
//   - heap-B/poll and stack-B/poll: the server's heap and goroutine stack
//     per waiting long-poll, beyond those of the idle keep-alive connection
//     it arrives on (runtime.MemStats after a GC, once every connection is
//     idle, then once every long-poll waits);
//   - idle-heap-B/conn and idle-stack-B/conn: the same for an idle
//     keep-alive connection, for context;
//   - p50-ms and p99-ms: the delay from an engine event to its answer being
//     read by the client, over every client and round;
//   - written-p50-ms and written-p99-ms (fanout=all): the delay from the
//     event to the server having written the answer, the server's share.
//
// fanout=all puts every client on one channel, woken by one event per
// round; fanout=one gives each client its own channel and publishes one
// event per client per round, one after another.
//
// The clients run in a child process (the test binary again, running
// TestSubscribeBenchClient), so that their memory is not counted and each
// process stays under its file descriptor limit. It holds 100 long-polls,
// or 10,000 with PRESENCE_BENCH_FULL=1.
func BenchmarkSubscribeLongPoll(b *testing.B) {
	polls := 100
	if os.Getenv("PRESENCE_BENCH_FULL") == "1" {
		polls = 10000
	}
	for _, fanout := range []string{"all", "one"} {
		b.Run(fmt.Sprintf("polls=%d/fanout=%s", polls, fanout), func(b *testing.B) {
			benchLongPoll(b, polls, fanout)
		})
	}
}

func benchLongPoll(b *testing.B, polls int, fanout string) {
	eng, err := engine.New(engine.Config{AnnounceMax: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	// written records when each long-poll answer was written (Observe runs
	// right after), to tell the server's share of the delay from the
	// client's.
	var mu sync.Mutex
	var written []int64
	h, err := New(eng, Config{SubscribeHold: 10 * time.Minute, Observe: func(ep string, status int, _ time.Duration) {
		if ep == EndpointSubscribe {
			at := time.Now().UnixNano()
			mu.Lock()
			written = append(written, at)
			mu.Unlock()
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		_ = srv.Close()
		<-served
	}()

	before := memNow()
	child := exec.Command(os.Args[0], "-test.run=^TestSubscribeBenchClient$", "-test.count=1")
	child.Env = append(os.Environ(),
		benchEnvAddr+"="+ln.Addr().String(),
		benchEnvPolls+"="+strconv.Itoa(polls),
		benchEnvFanout+"="+fanout)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = child.Wait()
	}()
	lines := bufio.NewReaderSize(stdout, 1<<20)
	expect := func(prefix string) string {
		line, err := lines.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, prefix) {
			b.Fatalf("client process: want %q, got %q (%v)", prefix, line, err)
		}
		return strings.TrimSpace(strings.TrimPrefix(line, prefix))
	}
	expect("ready")
	idle := memNow()

	var delays, serverDelays []time.Duration
	starts := make([]int64, polls)
	b.ResetTimer()
	for round := range b.N {
		fmt.Fprintln(stdin, "poll")
		deadline := time.Now().Add(time.Minute)
		for h.SubscribeStats().Waiting < int64(polls) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d long-polls waiting", h.SubscribeStats().Waiting, polls)
			}
			time.Sleep(time.Millisecond)
		}
		if round == 0 {
			b.StopTimer()
			waiting := memNow()
			b.ReportMetric(float64(waiting.heap-idle.heap)/float64(polls), "heap-B/poll")
			b.ReportMetric(float64(waiting.stack-idle.stack)/float64(polls), "stack-B/poll")
			b.ReportMetric(float64(idle.heap-before.heap)/float64(polls), "idle-heap-B/conn")
			b.ReportMetric(float64(idle.stack-before.stack)/float64(polls), "idle-stack-B/conn")
			b.StartTimer()
		}
		mu.Lock()
		written = written[:0]
		mu.Unlock()
		uuid := "x" + strconv.Itoa(round)
		switch fanout {
		case "all":
			t0 := time.Now().UnixNano()
			benchJoin(b, eng, uuid, "lobby")
			for i := range starts {
				starts[i] = t0
			}
		default:
			for i := range starts {
				starts[i] = time.Now().UnixNano()
				benchJoin(b, eng, uuid, "c"+strconv.Itoa(i))
			}
		}
		fields := strings.Fields(expect("answered"))
		if len(fields) != polls {
			b.Fatalf("%d answers, want %d", len(fields), polls)
		}
		for i, f := range fields {
			at, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			delays = append(delays, time.Duration(at-starts[i]))
		}
		if fanout == "all" {
			mu.Lock()
			for _, at := range written {
				serverDelays = append(serverDelays, time.Duration(at-starts[0]))
			}
			mu.Unlock()
		}
	}
	b.StopTimer()
	fmt.Fprintln(stdin, "quit")
	b.ReportMetric(percentile(delays, 0.50), "p50-ms")
	b.ReportMetric(percentile(delays, 0.99), "p99-ms")
	if len(serverDelays) > 0 {
		b.ReportMetric(percentile(serverDelays, 0.50), "written-p50-ms")
		b.ReportMetric(percentile(serverDelays, 0.99), "written-p99-ms")
	}
}

// percentile returns the p-th quantile of ds, in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	slices.Sort(ds)
	return float64(ds[int(p*float64(len(ds)-1))]) / float64(time.Millisecond)
}

func benchJoin(b *testing.B, eng *engine.Engine, uuid, ch string) {
	if _, err := eng.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: []string{ch}}); err != nil {
		b.Fatal(err)
	}
}

type memSample struct{ heap, stack int64 }

// memNow returns the live heap and the goroutine stacks after a GC.
func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: int64(ms.HeapAlloc), stack: int64(ms.StackInuse)}
}

// TestSubscribeBenchClient is the client process of
// BenchmarkSubscribeLongPoll; without its environment it is skipped. It
// opens one connection per long-poll and handshakes on each, prints
// "ready", then per "poll" line on stdin sends one long-poll on every
// connection and prints "answered" and the Unix nanosecond at which each
// answer was read, in connection order.
func TestSubscribeBenchClient(t *testing.T) {
	addr := os.Getenv(benchEnvAddr)
	if addr == "" {
		t.Skip("the client process of BenchmarkSubscribeLongPoll")
	}
	polls, err := strconv.Atoi(os.Getenv(benchEnvPolls))
	if err != nil {
		t.Fatal(err)
	}
	fanout := os.Getenv(benchEnvFanout)
	conns := make([]*benchConn, polls)
	errs := make(chan error, polls)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ch := "lobby"
				if fanout != "all" {
					ch = "c" + strconv.Itoa(i)
				}
				c, err := dialBench(addr, ch, i)
				if err != nil {
					errs <- err
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range polls {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			_ = c.conn.Close()
		}
	}()
	fmt.Println("ready")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "poll" {
			return
		}
		arrivals := make([]int64, polls)
		errs := make(chan error, polls)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				at, err := c.poll()
				if err != nil {
					errs <- err
				}
				arrivals[i] = at
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var sb strings.Builder
		sb.WriteString("answered")
		for _, at := range arrivals {
			sb.WriteByte(' ')
			sb.WriteString(strconv.FormatInt(at, 10))
		}
		fmt.Println(sb.String())
	}
}

// benchConn is one keep-alive connection of the client process.
type benchConn struct {
	conn   net.Conn
	br     *bufio.Reader
	path   string
	cursor string
}

func dialBench(addr, ch string, i int) (*benchConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &benchConn{
		conn: conn,
		br:   bufio.NewReader(conn),
		path: subPre + "/" + ch + "-pnpres/0?uuid=client" + strconv.Itoa(i),
	}
	if _, err := c.poll(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// poll sends one subscribe call with the connection's cursor, reads the
// answer, keeps its cursor and returns when it was read (Unix ns).
func (c *benchConn) poll() (int64, error) {
	path := c.path
	if c.cursor != "" {
		path += "&tt=" + c.cursor
	}
	if _, err := io.WriteString(c.conn, "GET "+path+" HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	at := time.Now().UnixNano()
	if err != nil {
		return 0, err
	}
	var a struct {
		T struct {
			T string `json:"t"`
		} `json:"t"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &a) != nil {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	c.cursor = a.T.T
	return at, nil
}
