package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `report-command: go run ./bench/cmd/report
go-version: go1.26.8 linux/amd64
nproc: 2
cpu-model: AMD EPYC
memory: 23.4 GiB
commit: abc123
date: 2026-01-01T00:00:00Z
goos: linux
cpu: AMD EPYC
BenchmarkRefresh/impl=engine/members=1M-2         	 3661648	       100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRefresh/impl=engine/members=1M-2         	 3661648	       120.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRefresh/impl=engine/members=1M-2         	 3661648	       300.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRefresh/impl=naive/members=1M-2          	 2030692	       200.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRefresh/impl=wheel-per-member/members=1M-2         	 1000000	      1326 ns/op	     128 B/op	       3 allocs/op
BenchmarkRefresh/impl=engine/shape=1x1M/per-call=5-2 	 100	 50 ns/op
BenchmarkRefresh/impl=engine/members=10M-2         	 3661648	       150.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRefresh/impl=naive/members=10M-2         	 3661648	       300.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkMemory/impl=engine/members=1M-2  	1	 9 ns/op	 70.0 heap-B/member	 1.5 objects/member
BenchmarkMemory/impl=engine/members=10M-2  	1	 9 ns/op	 90.0 heap-B/member	 1.5 objects/member
BenchmarkMemory/impl=naive/members=1M-2  	1	 9 ns/op	 230.0 heap-B/member	 3.0 objects/member
BenchmarkEvents/impl=engine/subs=1-2  	 100	 500 ns/op	 2000000 events/s
BenchmarkPeerMemory/impl=engine/members=1M-2  	1	 9 ns/op	 70.0 heap-B/member
BenchmarkPeerMemory/impl=centrifuge/members=1M-2  	1	 9 ns/op	 120.0 heap-B/member
BenchmarkSnapshot/impl=engine/members=1M/shape=1x1M/op=file-2  	1	 85000000 ns/op	 45.0 disk-B/member	 37.0 names-B/member	 8.00 rest-B/member
BenchmarkSnapshot/impl=engine/members=1M/shape=100kx10/op=file-2  	1	 1200000000 ns/op	 47.0 disk-B/member	 38.7 names-B/member	 8.30 rest-B/member
--- FAIL: BenchmarkJoin/impl=engine
BenchmarkJoin/impl=engine/members=1M  FAIL
PASS
`

func TestParse(t *testing.T) {
	var rs results
	require.NoError(t, rs.parse(strings.NewReader(sample)))

	v, ok := rs.get("Refresh", "members=1M", "engine", "ns/op")
	require.True(t, ok)
	assert.Equal(t, 120.0, v, "the median of three runs")
	v, ok = rs.get("Refresh", "members=1M", "wheel-per-member", "allocs/op")
	require.True(t, ok)
	assert.Equal(t, 3.0, v)
	v, ok = rs.get("Refresh", "shape=1x1M/per-call=5", "engine", "ns/op")
	require.True(t, ok)
	assert.Equal(t, 50.0, v)
	v, ok = rs.get("Memory", "members=1M", "naive", "heap-B/member")
	require.True(t, ok)
	assert.Equal(t, 230.0, v)
	_, ok = rs.get("Join", "members=1M", "engine", "ns/op")
	assert.False(t, ok)

	m := parseMachine(sample)
	assert.Equal(t, "2", m.nproc)
	assert.Equal(t, "AMD EPYC", m.cpu)
	assert.Equal(t, "go1.26.8 linux/amd64", m.goVersion)
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct {
		name, bench, config, impl string
		ok                        bool
	}{
		{"BenchmarkRefresh/impl=engine/members=1M-2", "Refresh", "members=1M", "engine", true},
		{"BenchmarkRefresh/impl=wheel-per-member/shape=1Mx1/per-call=5-16", "Refresh", "shape=1Mx1/per-call=5", "wheel-per-member", true},
		{"BenchmarkHereNow/impl=naive/members=1k/query=page", "HereNow", "members=1k/query=page", "naive", true},
		{"BenchmarkPublish/subs=1-2", "Publish", "subs=1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bench, config, impl, ok := splitName(tc.name)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.bench, bench)
			assert.Equal(t, tc.config, config)
			assert.Equal(t, tc.impl, impl)
		})
	}
}

func TestTables(t *testing.T) {
	var rs results
	require.NoError(t, rs.parse(strings.NewReader(sample)))
	var w bytes.Buffer
	writeTables(&w, &rs)
	got := w.String()
	assert.Contains(t, got, "### Refresh")
	assert.Contains(t, got, "| members=1M | ns/op | 120 | 200 | 1326 | 0.60x | 0.09x |")
	assert.Contains(t, got, "| members=1M | allocs/op | 0 | 0 | 3.00 | = | 0.00x |")
	assert.Contains(t, got, "| members=1M | heap-B/member | 70.0 | 230 | 0.30x |", "only the columns of the implementations the benchmark ran")
	assert.Contains(t, got, "| members=1M | heap-B/member | 70.0 | 120 | 0.58x |", "the peer's table")
	assert.NotContains(t, got, "| members=1M | ns/op | 9", "Memory's ns/op is left out")

	w.Reset()
	writeTargets(&w, &rs)
	got = w.String()
	assert.Contains(t, got, "| Refresh at 1M and 10M, one channel: engine ns/op at most 0.45x naive, 0 allocs/op | MISSED | members=1M: 120 vs 200 ns/op = 0.60x, 0 allocs/op; members=10M: 150 vs 300 ns/op = 0.50x, 0 allocs/op |")
	assert.Contains(t, got, "| MISSED | members=1M: 70.0 heap-B/member (naive 230); members=10M: 90.0 heap-B/member; centrifuge at 1M: 120 |")
	assert.Contains(t, got, "| Join at 1M: engine at least 2x naive throughput | not measured |")
	assert.Contains(t, got, "| Events/s, subs=1 and subs=100 (filtered): engine at least 1.0x naive, both | not measured |")
	assert.Contains(t, got, "| Snapshot of 1M members written to a synced file in at most 1 s (both shapes) | MISSED | 1x1M: 0.0850 s; 100kx10: 1.20 s |")
	assert.Contains(t, got, "| Restore of 1M members in at most 2 s (both shapes) | not measured |")
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.016: "0.0160", 0.000016: "0.0000160", 0.5: "0.500", 1.5: "1.50", 12.34: "12.3", 123.4: "123", 1234567: "1234567"} {
		assert.Equal(t, want, format(v), "%v", v)
	}
	assert.Equal(t, "—", ratio(1, false, 1, true))
	assert.Equal(t, "=", ratio(0, true, 0, true))
	assert.Equal(t, "∞", ratio(1, true, 0, true))
	assert.Equal(t, "0.50x", ratio(1, true, 2, true))
}
