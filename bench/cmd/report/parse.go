package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// result is one measurement: one metric of one implementation in one
// configuration of one benchmark, over every run of it (-count).
type result struct {
	bench  string // "Refresh", without the Benchmark prefix
	config string // the sub-benchmark name without impl=X: "members=1M"
	impl   string
	unit   string // "ns/op", "heap-B/member", ...
	values []float64
}

// median returns the median of r's values.
func (r *result) median() float64 {
	v := slices.Clone(r.values)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// results holds parsed results in order of first appearance.
type results struct {
	list  []*result
	index map[[4]string]*result
}

func (rs *results) add(bench, config, impl, unit string, v float64) {
	if rs.index == nil {
		rs.index = make(map[[4]string]*result)
	}
	k := [4]string{bench, config, impl, unit}
	r := rs.index[k]
	if r == nil {
		r = &result{bench: bench, config: config, impl: impl, unit: unit}
		rs.index[k] = r
		rs.list = append(rs.list, r)
	}
	r.values = append(r.values, v)
}

func (rs *results) get(bench, config, impl, unit string) (float64, bool) {
	r := rs.index[[4]string{bench, config, impl, unit}]
	if r == nil {
		return 0, false
	}
	return r.median(), true
}

// parse reads `go test -bench` output and adds every benchmark line of a
// sub-benchmark named impl=X to rs. Other lines are ignored.
func (rs *results) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if err := rs.parseLine(sc.Text()); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	return sc.Err()
}

func (rs *results) parseLine(line string) error {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return nil
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return nil // "BenchmarkX ... FAIL" or a log line
	}
	bench, config, impl, ok := splitName(f[0])
	if !ok {
		return nil
	}
	if (len(f)-2)%2 != 0 {
		return fmt.Errorf("odd number of value and unit fields: %q", line)
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return fmt.Errorf("value %q: %w", f[i], err)
		}
		rs.add(bench, config, impl, f[i+1], v)
	}
	return nil
}

// splitName splits "BenchmarkRefresh/impl=engine/members=1M-2" into
// "Refresh", "members=1M" and "engine". ok is false for a name without an
// impl=X part.
func splitName(name string) (bench, config, impl string, ok bool) {
	// The -N suffix is GOMAXPROCS, on the last part only.
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	parts := strings.Split(name, "/")
	bench = strings.TrimPrefix(parts[0], "Benchmark")
	var rest []string
	for _, p := range parts[1:] {
		if v, found := strings.CutPrefix(p, "impl="); found {
			impl = v
			continue
		}
		rest = append(rest, p)
	}
	return bench, strings.Join(rest, "/"), impl, impl != ""
}
