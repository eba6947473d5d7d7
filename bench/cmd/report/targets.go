package main

import (
	"fmt"
	"io"
	"strings"
)

// A target is one of the goals, checked against the results.
type target struct {
	name  string
	check func(rs *results) (verdict string, detail string)
}

// Verdicts.
const (
	met     = "met"
	missed  = "MISSED"
	missing = "not measured"
)

// targets are those of the issues that set them, the latest first; each
// says what it measures, and a figure the run did not produce is "not
// measured", never met.
var targets = []target{
	{"Events/s, subs=1 and subs=100 (filtered): engine at least 1.0x naive, both", func(rs *results) (string, string) {
		ok, d := true, ""
		for _, cfg := range []string{"subs=1", "subs=100"} {
			eng, ok1 := rs.get("Events", cfg, "engine", "events/s")
			nv, ok2 := rs.get("Events", cfg, "naive", "events/s")
			if !ok1 || !ok2 {
				return missing, ""
			}
			ok = ok && eng >= nv
			d += fmt.Sprintf("%s: %s vs %s events/s = %.2fx; ", cfg, format(eng), format(nv), eng/nv)
		}
		return verdict(ok), strings.TrimSuffix(d, "; ")
	}},
	{"Memory, 1M and 10M memberships, one channel: engine at most 80 heap-B/member (strings apart)", func(rs *results) (string, string) {
		ok, d := true, ""
		for _, cfg := range []string{"members=1M", "members=10M"} {
			eng, found := rs.get("Memory", cfg, "engine", "heap-B/member")
			if !found {
				return missing, "run with -members 10M"
			}
			ok = ok && eng <= 80
			d += fmt.Sprintf("%s: %s heap-B/member", cfg, format(eng))
			if nv, found := rs.get("Memory", cfg, "naive", "heap-B/member"); found {
				d += fmt.Sprintf(" (naive %s)", format(nv))
			}
			d += "; "
		}
		if c, found := rs.get("PeerMemory", "members=1M", "centrifuge", "heap-B/member"); found {
			d += fmt.Sprintf("centrifuge at 1M: %s; ", format(c))
		}
		return verdict(ok), strings.TrimSuffix(d, "; ")
	}},
	{"Refresh at 1M and 10M, one channel: engine ns/op at most 0.45x naive, 0 allocs/op", func(rs *results) (string, string) {
		ok, d := true, ""
		for _, cfg := range []string{"members=1M", "members=10M"} {
			eng, ok1 := rs.get("Refresh", cfg, "engine", "ns/op")
			nv, ok2 := rs.get("Refresh", cfg, "naive", "ns/op")
			allocs, ok3 := rs.get("Refresh", cfg, "engine", "allocs/op")
			if !ok1 || !ok2 || !ok3 {
				return missing, "run with -members 10M"
			}
			ok = ok && eng <= 0.45*nv && allocs == 0
			d += fmt.Sprintf("%s: %s vs %s ns/op = %.2fx, %s allocs/op; ", cfg, format(eng), format(nv), eng/nv, format(allocs))
		}
		return verdict(ok), strings.TrimSuffix(d, "; ")
	}},
	{"Join at 1M: engine at least 2x naive throughput", func(rs *results) (string, string) {
		return throughput(rs, "Join", 2)
	}},
	{"Leave at 1M: engine at least 2x naive throughput", func(rs *results) (string, string) {
		return throughput(rs, "Leave", 2)
	}},
	{"Mass timeout of 1M: every event within one tick (1s) plus 1s of the last deadline, at most 64 goroutines above idle", func(rs *results) (string, string) {
		ms, ok1 := rs.get("MassTimeout", "members=1M", "engine", "delivery-ms")
		g, ok2 := rs.get("MassTimeout", "members=1M", "engine", "peak-goroutines")
		if !ok1 || !ok2 {
			return missing, ""
		}
		d := fmt.Sprintf("last event %s ms after the last deadline, %s goroutines above idle", format(ms), format(g))
		if nv, ok := rs.get("MassTimeout", "members=1M", "naive", "delivery-ms"); ok {
			ng, _ := rs.get("MassTimeout", "members=1M", "naive", "peak-goroutines")
			d += fmt.Sprintf(" (naive: %s ms, %s goroutines)", format(nv), format(ng))
		}
		return verdict(ms <= 2000 && g <= 64), d
	}},
	{"Here-now occupancy in O(1): engine ns/op at 1M within 2x of 1k", func(rs *results) (string, string) {
		small, ok1 := rs.get("HereNow", "members=1k/query=occupancy", "engine", "ns/op")
		big, ok2 := rs.get("HereNow", "members=1M/query=occupancy", "engine", "ns/op")
		if !ok1 || !ok2 {
			return missing, ""
		}
		return verdict(big <= 2*small), fmt.Sprintf("%s ns/op at 1k, %s ns/op at 1M", format(small), format(big))
	}},
	{"Snapshot of 1M members written to a synced file in at most 1 s (both shapes)", func(rs *results) (string, string) {
		return snapshotTime(rs, "op=file", 1e9)
	}},
	{"Restore of 1M members in at most 2 s (both shapes)", func(rs *results) (string, string) {
		return snapshotTime(rs, "op=restore", 2e9)
	}},
	{"Snapshot: at most 64 bytes per member on disk besides the names, at 1M", func(rs *results) (string, string) {
		worst, detail, ok := 0.0, "", true
		for _, shape := range snapshotShapes {
			v, found := rs.get("Snapshot", "members=1M/shape="+shape+"/op=write", "engine", "rest-B/member")
			if !found {
				return missing, ""
			}
			worst = max(worst, v)
			disk, _ := rs.get("Snapshot", "members=1M/shape="+shape+"/op=write", "engine", "disk-B/member")
			detail += fmt.Sprintf("%s: %s B/member besides the names (%s with them); ", shape, format(v), format(disk))
			ok = ok && v <= 64
		}
		return verdict(ok), strings.TrimSuffix(detail, "; ")
	}},
	{"No heartbeat waits more than 10 ms because a snapshot runs: longest lock hold at most 10 ms (1M members)", func(rs *results) (string, string) {
		detail, ok := "", true
		for _, shape := range snapshotShapes {
			c := "members=1M/shape=" + shape
			hold, found := rs.get("SnapshotLatency", c+"/snapshot=on", "engine", "hold-us")
			if !found {
				return missing, ""
			}
			get := func(on, unit string) string {
				v, _ := rs.get("SnapshotLatency", c+"/snapshot="+on, "engine", unit)
				return format(v)
			}
			detail += fmt.Sprintf("%s: hold %s µs; p99 %s µs (%s without); join/leave p99 %s µs (%s), max %s µs (%s); ",
				shape, format(hold), get("on", "p99-us"), get("off", "p99-us"),
				get("on", "p99-locked-us"), get("off", "p99-locked-us"), get("on", "max-locked-us"), get("off", "max-locked-us"))
			ok = ok && hold <= 10_000
		}
		return verdict(ok), strings.TrimSuffix(detail, "; ")
	}},
	{"10M memberships fit and run", func(rs *results) (string, string) {
		heap, ok1 := rs.get("Memory", "members=10M", "engine", "heap-B/member")
		ns, ok2 := rs.get("Refresh", "members=10M", "engine", "ns/op")
		if !ok1 || !ok2 {
			return missing, "run with -members 10M"
		}
		return met, fmt.Sprintf("%s heap-B/member, refresh %s ns/op", format(heap), format(ns))
	}},
}

// snapshotShapes are the shapes of the snapshot benchmarks at 1M members.
var snapshotShapes = []string{"1x1M", "100kx10"}

// snapshotTime checks that op of the snapshot benchmark took at most limit
// ns at 1M members, in every shape.
func snapshotTime(rs *results, op string, limit float64) (string, string) {
	detail, ok := "", true
	for _, shape := range snapshotShapes {
		v, found := rs.get("Snapshot", "members=1M/shape="+shape+"/"+op, "engine", "ns/op")
		if !found {
			return missing, ""
		}
		detail += fmt.Sprintf("%s: %s s; ", shape, format(v/1e9))
		ok = ok && v <= limit
	}
	return verdict(ok), strings.TrimSuffix(detail, "; ")
}

// throughput checks that the engine's throughput in bench at 1M is at least
// want times naive's, and names Centrifuge's where the run has it.
func throughput(rs *results, bench string, want float64) (string, string) {
	eng, ok1 := rs.get(bench, "members=1M", "engine", "ns/op")
	nv, ok2 := rs.get(bench, "members=1M", "naive", "ns/op")
	if !ok1 || !ok2 {
		return missing, ""
	}
	d := fmt.Sprintf("%s vs %s ns/op: %.2fx the throughput", format(eng), format(nv), nv/eng)
	if c, ok := rs.get("Peer"+bench, "members=1M", "centrifuge", "ns/op"); ok {
		pe, _ := rs.get("Peer"+bench, "members=1M", "engine", "ns/op")
		d += fmt.Sprintf(" (beside centrifuge: %s vs %s ns/op)", format(pe), format(c))
	}
	return verdict(nv/eng >= want), d
}

func verdict(ok bool) string {
	if ok {
		return met
	}
	return missed
}

// writeTargets writes the checklist of targets.
func writeTargets(w io.Writer, rs *results) {
	fmt.Fprintln(w, "\n### Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | verdict | measured |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, t := range targets {
		v, d := t.check(rs)
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.name, v, d)
	}
}
