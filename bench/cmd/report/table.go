package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// allImpls are the implementations in table column order: the engine, then the
// baselines it is compared with, then the peer (bench/centrifuge). A table
// has the columns of the implementations its benchmark ran.
var allImpls = []string{"engine", "naive", "wheel-per-member", "centrifuge"}

// skipped are metrics left out of a benchmark's table: for Memory and
// MassTimeout, ns/op, B/op and allocs/op are those of a whole build or cycle,
// not figures of merit.
var skipped = map[string][]string{
	"Memory":      {"ns/op", "B/op", "allocs/op"},
	"MassTimeout": {"ns/op", "B/op", "allocs/op"},
	"PeerMemory":  {"ns/op", "B/op", "allocs/op"},
}

// writeTables writes one markdown table per benchmark, in order of first
// appearance: a row per configuration and metric, a column per
// implementation, and the engine's ratio to each baseline.
func writeTables(w io.Writer, rs *results) {
	var benches []string
	configs := make(map[string][]string) // bench -> configs, in order
	units := make(map[string][]string)   // bench -> units, in order
	for _, r := range rs.list {
		if !slices.Contains(benches, r.bench) {
			benches = append(benches, r.bench)
		}
		if !slices.Contains(configs[r.bench], r.config) {
			configs[r.bench] = append(configs[r.bench], r.config)
		}
		if !slices.Contains(units[r.bench], r.unit) && !slices.Contains(skipped[r.bench], r.unit) {
			units[r.bench] = append(units[r.bench], r.unit)
		}
	}
	for _, b := range benches {
		var impls []string
		for _, impl := range allImpls {
			if slices.ContainsFunc(rs.list, func(r *result) bool { return r.bench == b && r.impl == impl }) {
				impls = append(impls, impl)
			}
		}
		fmt.Fprintf(w, "\n### %s\n\n", b)
		fmt.Fprint(w, "| config | metric |")
		for _, impl := range impls {
			fmt.Fprintf(w, " %s |", impl)
		}
		for _, impl := range impls[1:] {
			fmt.Fprintf(w, " engine/%s |", impl)
		}
		fmt.Fprint(w, "\n|---|---|")
		for range len(impls)*2 - 1 {
			fmt.Fprint(w, "--:|")
		}
		fmt.Fprintln(w)
		us := orderUnits(units[b])
		for _, c := range configs[b] {
			for _, u := range us {
				eng, ok := rs.get(b, c, "engine", u)
				row := fmt.Sprintf("| %s | %s |", c, u)
				any := false
				for _, impl := range impls {
					v, found := rs.get(b, c, impl, u)
					any = any || found
					row += " " + cell(v, found) + " |"
				}
				if !any {
					continue
				}
				for _, impl := range impls[1:] {
					v, found := rs.get(b, c, impl, u)
					row += " " + ratio(eng, ok, v, found) + " |"
				}
				fmt.Fprintln(w, row)
			}
		}
	}
}

// orderUnits puts ns/op first, then the benchmark's own metrics, then B/op
// and allocs/op.
func orderUnits(us []string) []string {
	rank := func(u string) int {
		switch u {
		case "ns/op":
			return 0
		case "B/op":
			return 2
		case "allocs/op":
			return 3
		}
		return 1
	}
	out := slices.Clone(us)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

func cell(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return format(v)
}

// format prints v with about three significant digits, whole numbers from
// 100 up.
func format(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	// Three significant digits, without an exponent.
	return strconv.FormatFloat(v, 'f', 2-int(math.Floor(math.Log10(a))), 64)
}

// ratio prints engine/baseline.
func ratio(eng float64, engOK bool, base float64, baseOK bool) string {
	switch {
	case !engOK || !baseOK:
		return "—"
	case eng == 0 && base == 0:
		return "="
	case base == 0:
		return "∞"
	}
	return strconv.FormatFloat(eng/base, 'f', 2, 64) + "x"
}
