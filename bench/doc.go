// Package bench measures the presence engine at millions of uuids, side by
// side with the designs it replaces. It holds benchmarks only; nothing
// imports it.
//
// # Implementations
//
// Every benchmark runs every implementation in the same process, as
// sub-benchmarks named impl=X:
//
//   - impl=engine: the presence engine (package engine), configured with a
//     minimum timeout of 1s and AnnounceMax -1, so that every join, leave and
//     timeout is an event of its own, as in the baselines.
//   - impl=naive: a first-pass design: per channel a map[uuid]*member under a
//     sync.RWMutex, the channels in a map under a sync.RWMutex, one
//     time.AfterFunc timer per member reset on every heartbeat, and events on
//     buffered Go channels.
//   - impl=wheel-per-member: the same maps with one
//     github.com/RussellLuo/timingwheel timer per member, stopped and created
//     anew on every heartbeat.
//
// The baselines live in bench/internal/baseline; bench/internal/impl puts all
// three behind one small interface, and its tests check that they agree on a
// scripted workload.
//
// # Benchmarks
//
//   - BenchmarkRefresh: the heartbeat of a present member picked at random,
//     from GOMAXPROCS goroutines; members=N on one channel, and shape=CxM
//     (C channels of M members) with per-call=1 or 5 channels per heartbeat.
//   - BenchmarkJoin, BenchmarkLeave, BenchmarkChurn (90% refresh, 5% join,
//     5% leave) on a channel of N members. Join and Leave run in rounds of
//     at most N/10 fresh uuids whose untimed half (the leaves after a round
//     of joins, the joins before a round of leaves) keeps the channel
//     between N and 1.1 N members whatever b.N is.
//   - BenchmarkMemory: heap-B/member after a full GC, the uuid and channel
//     name strings reported apart (uuid-B/member, chan-B/member), and
//     objects/member.
//   - BenchmarkMassTimeout: N members due at the same instant: delivery-ms
//     from the last deadline to the last timeout event received, drain-ms,
//     timeouts/s, peak-goroutines, peak-heap-MB and peak-stacks-MB.
//   - BenchmarkHereNow: query=occupancy and query=page (a page of uuids) of a
//     channel of N members.
//   - BenchmarkEvents: events/s from the change to its receipt by 1 or 100
//     filtered subscribers.
//   - BenchmarkSnapshot (engine only: the baselines keep nothing across a
//     restart): engine.Snapshot to memory (op=write) and to a synced file
//     (op=file), and engine.Restore (op=restore), of N members on one
//     channel and on channels of 10: ns/op per snapshot, disk-B/member,
//     names-B/member, rest-B/member and MB/s.
//   - BenchmarkSnapshotLatency (engine only): the latency of heartbeats
//     (90% refreshes, 5% joins, 5% leaves) from one goroutine while
//     snapshots run back to back beside them (snapshot=on) and while
//     nothing does (snapshot=off): p50-us, p99-us, p999-us, max-us, the same
//     for joins and leaves (-locked-), and hold-us, the longest a snapshot
//     held a channel's lock.
//
// Every benchmark reports allocations; domain figures are b.ReportMetric
// units, so benchstat compares them like ns/op.
//
// # Sizes
//
// By default the benchmarks run at small sizes (1k members), so that the CI
// smoke run finishes in seconds:
//
//	go test -run '^$' -bench . -benchtime=1x ./bench/...
//
// PRESENCE_BENCH_FULL=1 selects the real sizes: members=100k and 1M,
// shapes of 1M memberships, 1M members in BenchmarkMassTimeout, channels of
// 1k and 1M in BenchmarkHereNow, pages of 1,000, 1M members in the snapshot
// benchmarks. PRESENCE_BENCH_MEMBERS=10M adds members=10M to
// BenchmarkRefresh, BenchmarkMemory and BenchmarkSnapshot (a few GB of RAM,
// one implementation at a time).
//
// PRESENCE_BENCH_ROTATE=k runs the implementations in their usual order
// (engine, naive, wheel-per-member) rotated left by k; the report command
// rotates from one run to the next.
//
// Memory, MassTimeout and Snapshot take seconds per round: run them with
// -benchtime=1x.
//
// # Report
//
// From the module root,
//
//	go run ./bench/cmd/report
//
// runs the whole suite at the full sizes, each benchmark in a process of its
// own, and prints the side-by-side table (engine, each baseline, and the
// engine's ratio to each) with a checklist of the targets. BENCHMARKS.md at
// the repository root holds its output and the benchstat recipe for
// comparing two commits.
package bench
