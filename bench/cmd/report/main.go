// Command report runs the benchmarks of package bench at full size and prints
// the side-by-side table, engine against each baseline with ratios, as
// markdown on standard output. The go test output streams to standard error
// as it runs.
//
// Run it from the module root:
//
//	go run ./bench/cmd/report                    # the suite at 100k and 1M members
//	go run ./bench/cmd/report -members 10M       # plus Refresh, Memory and Snapshot at 10M
//	go run ./bench/cmd/report -raw new.txt       # also keep the raw output, for benchstat
//	go run ./bench/cmd/report -in new.txt        # render a table from kept output
//
// Each benchmark runs -count times, each time in a process of its own (a
// fresh heap) that runs every implementation once; the table shows the
// median of the runs. Memory and MassTimeout run one
// round each (-benchtime=1x), the others for -benchtime.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// suite is every benchmark of package bench, then those of the peer module
// (bench/centrifuge, names starting with Peer), in the order they run.
var suite = []string{"Refresh", "Join", "Leave", "Churn", "HereNow", "Events", "Memory", "MassTimeout",
	"Snapshot", "SnapshotLatency",
	"PeerRefresh", "PeerJoin", "PeerLeave", "PeerHereNow", "PeerMemory"}

// oneRound are the benchmarks whose every round takes seconds.
var oneRound = map[string]bool{"Memory": true, "MassTimeout": true, "Snapshot": true, "PeerMemory": true}

// peerDir is the module of the Peer benchmarks, relative to the root: a
// module of its own, so that the library's users download nothing of
// Centrifuge.
const peerDir = "bench/centrifuge"

func main() {
	var (
		count     = flag.Int("count", 3, "runs of each benchmark; the table shows the median")
		benchtime = flag.String("benchtime", "1s", "-benchtime of the benchmarks other than Memory and MassTimeout")
		members   = flag.String("members", "", "extra members=N size for Refresh and Memory, such as 10M")
		only      = flag.String("only", "", "comma-separated benchmarks to run (default all): "+strings.Join(suite, ","))
		raw       = flag.String("raw", "", "also write the raw benchmark output to this file (benchstat input)")
		in        = flag.String("in", "", "comma-separated files of raw output to render instead of running")
		smoke     = flag.Bool("smoke", false, "run at the small smoke-test sizes, to try the command out")
	)
	flag.Parse()
	// An interrupt stops the running benchmark and removes the temporary
	// test binary before the command exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *count, *benchtime, *members, *only, *raw, *in, *smoke)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, count int, benchtime, members, only, raw, in string, smoke bool) error {
	var (
		out  bytes.Buffer
		meta machine
	)
	if in != "" {
		for _, name := range strings.Split(in, ",") {
			b, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			out.Write(b)
		}
		meta = parseMachine(out.String())
	} else {
		benches := suite
		if only != "" {
			benches = strings.Split(only, ",")
		}
		meta = probeMachine()
		header := meta.header()
		out.WriteString(header)
		var rawFile io.Writer = io.Discard
		if raw != "" {
			f, err := os.Create(raw)
			if err != nil {
				return err
			}
			defer f.Close()
			rawFile = f
			if _, err := io.WriteString(f, header); err != nil {
				return err
			}
		}
		env := os.Environ()
		if !smoke {
			env = append(env, "PRESENCE_BENCH_FULL=1")
		}
		if members != "" {
			env = append(env, "PRESENCE_BENCH_MEMBERS="+members)
		}
		if err := runSuite(ctx, benches, count, benchtime, env, io.MultiWriter(&out, rawFile, os.Stderr)); err != nil {
			return err
		}
		// The load after the run, as the header has it before: other work
		// on the machine shows here.
		meta.loadEnd = loadavg()
		end := "loadavg-end: " + meta.loadEnd + "\n"
		out.WriteString(end)
		if _, err := io.WriteString(rawFile, end); err != nil {
			return err
		}
	}

	var rs results
	if err := rs.parse(bytes.NewReader(out.Bytes())); err != nil {
		return err
	}
	if len(rs.list) == 0 {
		return errors.New("no benchmark results")
	}
	fmt.Printf("Command: `%s`\n\n", meta.command)
	fmt.Printf("Machine: %s\n\n", meta.line())
	fmt.Printf("Load average (1, 5, 15 min) before: %s; after: %s\n", meta.loadStart, meta.loadEnd)
	writeTables(os.Stdout, &rs)
	writeTargets(os.Stdout, &rs)
	fmt.Println()
	fmt.Println("Ratios are engine/baseline: below 1x is better for costs (ns/op, bytes, objects,")
	fmt.Println("ms, goroutines), above 1x for rates (/s). Values are medians of -count runs.")
	return nil
}

// runSuite compiles the benchmarks once and runs each in a process of its own.
func runSuite(ctx context.Context, benches []string, count int, benchtime string, env []string, w io.Writer) error {
	dir, err := os.MkdirTemp("", "presence-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bench.test")
	peerBin := filepath.Join(dir, "peer.test")
	for _, b := range []struct{ bin, dir, pkg string }{{bin, "", "./bench"}, {peerBin, peerDir, "."}} {
		if b.dir != "" && !slices.ContainsFunc(benches, isPeer) {
			continue
		}
		build := exec.CommandContext(ctx, "go", "test", "-c", "-o", b.bin, b.pkg)
		build.Dir = b.dir
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the benchmarks of %s (run from the module root): %w", b.pkg, err)
		}
	}
	// Each pass runs every implementation once (-test.count=1), and the passes
	// follow one another: a burst of other work on the machine then slows
	// one pass of every implementation rather than every pass of one. Each
	// pass starts with another implementation.
	for _, b := range benches {
		bt := benchtime
		if oneRound[b] {
			bt = "1x"
		}
		start := time.Now()
		for pass := range count {
			exe := bin
			if isPeer(b) {
				exe = peerBin
			}
			cmd := exec.CommandContext(ctx, exe,
				"-test.run=^$",
				"-test.bench=^Benchmark"+b+"$",
				"-test.benchmem",
				"-test.benchtime="+bt,
				"-test.count=1",
				"-test.timeout=0",
			)
			cmd.Env = append(slices.Clip(env), fmt.Sprintf("PRESENCE_BENCH_ROTATE=%d", pass))
			cmd.Stdout, cmd.Stderr = w, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("Benchmark%s: %w", b, err)
			}
		}
		fmt.Fprintf(os.Stderr, "# Benchmark%s took %v\n", b, time.Since(start).Round(time.Second))
	}
	return nil
}

// isPeer reports whether benchmark b is one of the peer module's.
func isPeer(b string) bool { return strings.HasPrefix(b, "Peer") }

// machine describes where and how the benchmarks ran. It is written at the
// top of the raw output as "key: value" lines, which benchstat reads as
// configuration.
type machine struct {
	command, goVersion, nproc, cpu, memory, commit, date string
	loadStart, loadEnd                                   string
}

func probeMachine() machine {
	m := machine{
		command:   strings.Join(append([]string{"go run ./bench/cmd/report"}, os.Args[1:]...), " "),
		nproc:     fmt.Sprint(runtime.NumCPU()),
		cpu:       "unknown",
		memory:    "unknown",
		date:      time.Now().UTC().Format(time.RFC3339),
		loadStart: loadavg(),
	}
	if b, err := exec.Command("go", "version").Output(); err == nil {
		m.goVersion = strings.TrimPrefix(strings.TrimSpace(string(b)), "go version ")
	}
	if b, err := exec.Command("nproc").Output(); err == nil {
		m.nproc = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v, ok := field(string(b), "model name"); ok {
			m.cpu = v
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if v, ok := field(string(b), "MemTotal"); ok {
			var kb int64
			if _, err := fmt.Sscanf(v, "%d kB", &kb); err == nil {
				m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.commit = strings.TrimSpace(string(b))
	}
	return m
}

// field returns the value of the first "key : value" line of s.
func field(s, key string) (string, bool) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func (m machine) header() string {
	return fmt.Sprintf("report-command: %s\ngo-version: %s\nnproc: %s\ncpu-model: %s\nmemory: %s\ncommit: %s\ndate: %s\nloadavg-start: %s\n",
		m.command, m.goVersion, m.nproc, m.cpu, m.memory, m.commit, m.date, m.loadStart)
}

func parseMachine(s string) machine {
	get := func(k string) string { v, _ := field(s, k); return v }
	return machine{
		command:   get("report-command"),
		goVersion: get("go-version"),
		nproc:     get("nproc"),
		cpu:       get("cpu-model"),
		memory:    get("memory"),
		commit:    get("commit"),
		date:      get("date"),
		loadStart: get("loadavg-start"),
		loadEnd:   get("loadavg-end"),
	}
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (m machine) line() string {
	return fmt.Sprintf("%s, nproc %s, %s, %s RAM; commit %s, %s", m.goVersion, m.nproc, m.cpu, m.memory, m.commit, m.date)
}
