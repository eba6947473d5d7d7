// Package centrifuge measures the presence engine beside a real peer:
// Centrifuge's in-memory presence manager
// (github.com/centrifugal/centrifuge, NewMemoryPresenceManager), as a Go
// team choosing a presence library would try it.
//
// It is a module of its own, so that neither Centrifuge nor anything it
// needs is added to what users of the presence library compile or
// download; its go.mod points the presence module at this repository.
//
// # What is compared
//
// The benchmarks run two implementations side by side in one process, as
// sub-benchmarks impl=engine and impl=centrifuge, on the work both can do:
//
//   - BenchmarkPeerRefresh: the heartbeat of a present member, picked at
//     random, on one channel of N members (the engine's Heartbeat,
//     Centrifuge's AddPresence with a ClientInfo built for the call, as
//     Centrifuge's own client builds one for every presence update).
//   - BenchmarkPeerJoin and BenchmarkPeerLeave: a new uuid joins, a present
//     one leaves, a channel of N members, in rounds as in package bench.
//   - BenchmarkPeerHereNow: the occupancy of a channel of N members
//     (Centrifuge's PresenceStats) and a page of 1,000 of its uuids
//     (Centrifuge's Presence, which copies the whole channel: it has no
//     paging).
//   - BenchmarkPeerMemory: heap bytes per membership, strings apart, as
//     package bench measures them.
//
// Centrifuge's manager does less than the engine, and the comparison says
// so: it keeps no deadline and expires nobody (a Centrifuge node removes a
// client's presence when the client disconnects, and its Redis manager, not
// the in-memory one, expires entries), it sends no join, leave or timeout
// events, and it has no state, channel groups or Where Now. Every channel of
// one node is under one lock. The engine does all of that in the figures
// beside it.
//
// Sizes come from the same environment variables as package bench
// (PRESENCE_BENCH_FULL=1 for the full sizes). From this directory:
//
//	go test -run '^$' -bench . -benchtime=1x ./...
//
// or, from the repository root, go run ./bench/cmd/report -only Peer runs
// them into the report's tables.
package centrifuge
