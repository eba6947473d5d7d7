// Package cluster keeps presence in NATS JetStream, so that several servers
// share one presence: a Node serves the calls engine.Engine serves (it
// implements httpapi.Presence), and every node of a cluster sees the same
// members and delivers the same events, with the same timetokens.
//
// JetStream is the distributed engine underneath: it replicates, orders,
// persists and expires keys with a TTL, writing a marker when one expires.
// The package adds no consensus, no leases and no sweeper of expiry of its
// own: every decision is a write JetStream orders, and every node derives the
// same outcome from the same ordered stream.
//
// # Quick start
//
//	nc, err := nats.Connect("nats://h1:4222,nats://h2:4222", nats.MaxReconnects(-1))
//	if err != nil { ... }
//	defer nc.Close()
//	node, err := cluster.New(ctx, nc, cluster.Config{Replicas: 3})
//	if err != nil { ... }
//	defer node.Close()
//	h, err := httpapi.New(node, httpapi.Config{SubscribeShared: true})
//
// or run presenced with -nats. A program that imports only package engine
// compiles none of this package and no NATS code.
//
// # Where members live
//
// Each member is a key of a JetStream key-value bucket (Config.Bucket+"-0",
// and more with Config.Buckets, channels spread over them by a hash of sub
// key and channel): "<sub key>.<channel>.<uuid>", each name base64url
// encoded. Its value is the member's state, and its TTL the presence
// timeout, in whole seconds, rounded up. Channel groups are keys of
// Config.Bucket+"-groups", which also records the cluster-wide settings
// (the bucket count, the marker TTL and interval mode), checked by every
// node that starts. JetStream's own tools read the buckets as key-value
// buckets.
//
// # Writes
//
// A heartbeat writes each channel's key with the TTL of its timeout and a
// compare-and-swap on the key's last message as the node knows it: an absent
// key (no message, or a marker) becomes present, which is a join, and a
// present one is refreshed, with the state the call gives or the one the key
// holds. A compare-and-swap that loses (another node wrote first) reads the
// key from the bucket and writes again, so racing heartbeats join a member
// once, and state set through one node is never overwritten by a heartbeat
// through a node whose view is older. A leave writes a marker the same way;
// a timeout is JetStream's marker when the TTL runs out. The keys one call
// writes in one bucket are written together or not at all (an atomic
// batch); a call whose channels span several buckets is written bucket by
// bucket.
//
// Keys keep history: a member bucket keeps each key's last 16 messages, each
// until its own TTL, so that a node reading a little late still reads every
// change (see below). JetStream writes a timeout marker only when a key's
// last message expires, so a key's newest message must always expire last:
// a write that would expire before the key's last message (a heartbeat with
// a shorter timeout than the one before, a join over a leave's marker)
// rolls up the key's older messages, and a leave's marker lives as long as
// the member it removes had left (at least MarkerTTL), so that no older
// message shows the member again when the marker goes. The groups bucket
// keeps one message per key: its history derives no events.
//
// # Reading, and the same events everywhere
//
// Each node reads every bucket's stream in order (an ordered consumer from
// the first message) into its view: who is on which channel with what
// state. Here Now, Where Now, Get State and Occupancy answer from the view.
// The view changes only by reading: a call that joined, left or changed
// state returns once the node has read its own write (read-your-writes), so
// the node that answered a heartbeat shows it at once, and the others after
// the replication lag: what it takes the bucket's stream to reach them.
// Measured on one 2-core machine (BENCHMARKS.md), another node had a join
// 0.03 ms at p99 after the writer answered it, 0.6 ms at p99 after the call
// began on R3; under load it is what the stream's consumers queue.
//
// Events are derived while reading, from the message and what the view held
// before it: a value on an absent key is a join (and a state-change if it
// carries state), a changed value a state-change, a leave marker a leave,
// JetStream's marker a timeout; interval mode, deltas included, folds them
// as the engine does, with interval boundaries at multiples of
// Config.Interval of the stream's own time, marked in idle buckets by ticks
// each node writes (Config.Tick). A message's timetoken is the time
// JetStream stored it, in 100 ns units, made strictly increasing per bucket
// and distinct across buckets by its residue modulo their number; with
// several buckets a node releases an event once every bucket has been read
// past it, so each subscriber gets a sub key's events in timetoken order. So
// every node's subscribers get the same events, per channel in the same
// order, with the same timetokens and occupancies, and a subscribe client
// can move from one node to another with its cursor (httpapi's
// SubscribeShared): it gets every event after the cursor once, as long as
// the node it moves to has kept them (from the node's start, within
// httpapi.Config.SubscribeCacheAge and SubscribeCacheBytes per sub key;
// five minutes and 4 MiB by default). A node derives no event for what
// happened before it started: it reads the buckets' history silently, and a
// heartbeat after a restart is a refresh, not a join.
//
// That identity holds while each node reads every message. A bucket keeps
// the last 16 messages of each key, each until its TTL, and markers for
// Config.MarkerTTL: a node that falls further behind than that (its reading
// cut off for longer than MarkerTTL, say) may find messages gone. A
// heartbeat that shortens a member's timeout rolls up its key's older
// messages (see Keys keep history): a node that had not read them yet
// derives the change from what it had read, which for a join just before
// gives the join a later timetoken than other nodes give it. Timeouts rarely
// shrink in practice (an SDK sends the same one each time), and the node
// must be behind by the time between the two writes. It notices
// (a write's compare-and-swap names a message it never read), repairs its
// view from the bucket, counts the repair (Node.Repairs) and logs it; its
// events for those members may then differ from other nodes'. A sweep every
// MarkerTTL corrects members whose marker a node never read.
//
// # Timeouts
//
// A member times out when JetStream expires its key: no earlier than its
// deadline (the key is written after the heartbeat arrives, with a TTL of at
// least its timeout), and later by the TTL's rounding up to a whole second
// (none for timeouts in whole seconds, as PubNub's are) and JetStream's
// expiry delay: it checks every 250 ms, and 10,000 members timing out
// together came 225 ms late at p50 and 255 ms at p99 (BENCHMARKS.md).
//
// # Failures
//
// With NATS out of reach, calls fail at once with engine.ErrUnavailable
// (httpapi answers 503 with Retry-After), having applied nothing, and reads
// answer from the view; the node carries on by itself when NATS is back
// (the connection reconnects, the consumers resume where they stopped). A
// call that JetStream does not answer within Config.Timeout fails the same
// way; it may have been applied, and its retry is harmless (a heartbeat or a
// leave applied twice changes nothing more). With Replicas 3, the loss of one
// JetStream server loses no write that was answered; a node whose consumer
// was on that server resumes on another within seconds (its events wait
// meanwhile). A node that stops loses nothing: its members are in JetStream,
// and its subscribe clients resume on another node with their cursors.
//
// # Limits
//
//   - Config.MaxMembers bounds the members of the whole cluster as this node
//     sees them: joins through several nodes at once may pass it by as many
//     as are in flight.
//   - Stats counts the view; with several buckets a uuid present on channels
//     of several buckets counts once in each for Stats.UUIDs.
//   - The first interval event of a channel after a node starts carries the
//     deltas that node has seen, not those before its start.
//   - Timetokens come from JetStream's clock: a stream leader whose clock
//     steps back makes later events take the previous timetoken plus one.
//   - MarkerTTL may not exceed MinTimeout: JetStream raises every key's TTL
//     in a bucket that keeps history to at least the markers'.
//
// # Cost
//
// Every heartbeat is a write to JetStream, replicated to Replicas servers,
// and read back by every node: a cluster carries what its JetStream carries
// (BENCHMARKS.md measures heartbeats per second through one and three nodes
// on one and three servers, with one and four buckets). A member costs a
// node's view about 250 bytes of heap and a memory-storage JetStream server
// about 400.
package cluster
