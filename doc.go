// Package presence is an embeddable, in-memory presence engine for Go servers,
// with PubNub Presence semantics, and a PubNub-compatible HTTP server around it.
//
// The root package holds only this overview; the code lives in its
// sub-packages:
//
//   - engine: the Engine. Keyspaces (sub keys) of channels and their members,
//     heartbeats, leave, state, Here Now, Where Now and channel groups.
//   - events: the Event type and the Bus that delivers join, leave, timeout,
//     state-change and interval events to subscribers.
//   - wheel: the expiry scheduler, a timing wheel of coarse, never-early slots.
//   - httpapi: PubNub's REST wire format as a net/http Handler, so that
//     unmodified PubNub SDKs work against an Engine, or anything else with
//     the httpapi.Presence method set.
//   - cluster: a Presence kept in NATS JetStream, so that several servers
//     share one presence (presenced's -nats). Importing only engine
//     compiles none of it.
//   - console: a live web console of who is present where, and of the
//     events as they happen, for operators.
//   - cmd/presenced: the server binary.
//   - bench: benchmarks at millions of uuids beside naive designs.
//
// # Mental model
//
// A member is a (sub key, channel, uuid) triple with a deadline. A heartbeat
// names a uuid, channels (or channel groups, expanded when the heartbeat
// arrives) and a timeout. On each channel where the uuid is absent it joins,
// and a join event goes out; where it is present its deadline moves to now plus
// the timeout, and nothing goes out. A member whose deadline passes times out
// (a timeout event), within one tick (and 1 ms) of the deadline and never
// before it.
// Leave removes a member at once (a leave event). State is a JSON object per
// member, replaced whole by a heartbeat or SetState, announced by a
// state-change event, and gone with the membership. Above a channel's
// announce maximum (20 by default), its joins, leaves and timeouts are folded
// into one interval event every interval (10 s by default).
//
// # Quick start
//
// In outline (README.md has it as a whole program, which its tests run):
//
//	e, err := engine.New(engine.Config{})
//	if err != nil { ... }
//	defer e.Close()
//
//	sub, err := e.Subscribe(events.Filter{SubKey: "app"}, events.Options{})
//	if err != nil { ... }
//	go func() {
//		for ev := range sub.Events() {
//			log.Println(ev.Action, ev.Channel, ev.UUID, ev.Occupancy)
//		}
//	}()
//
//	_, err = e.Heartbeat(ctx, engine.HeartbeatRequest{
//		SubKey: "app", UUID: "alice", Channels: []string{"lobby"},
//		Timeout: time.Minute,
//	})
//	if err != nil { ... }
//	res, err := e.HereNow(engine.HereNowRequest{SubKey: "app", Channels: []string{"lobby"}, UUIDs: true})
//
// To serve PubNub SDKs instead, mount httpapi.New(e, httpapi.Config{}) on an
// http.Server, or in an http.ServeMux beside routes of your own, with an
// Authorizer of your own (httpapi's examples show both), or run the
// presenced command.
//
// # Testing
//
// An engine created inside a testing/synctest bubble expires its members on
// the bubble's clock, so tests of code that uses it wait out presence
// timeouts in no time; the engine package's documentation, under "Testing
// with virtual time", shows such a test.
//
// # Concurrency
//
// Every exported type is safe for concurrent use unless its documentation says
// otherwise. Per channel, membership changes and their events are serialized:
// replaying a channel's events from empty gives each event's occupancy and
// ends at what HereNow returns. Each (channel, uuid) joins exactly once per
// absent-to-present transition and leaves or times out exactly once per
// present-to-absent one, however heartbeats, leaves and expiry race.
//
// Events are handed to subscribers without blocking the engine: each
// subscription has its own bounded buffer and chooses what happens when it is
// full, dropping the oldest events (counted exactly, with a gap marker on the
// next event) or pushing back on the operations that emit events.
//
// # Lifecycle
//
// engine.New starts a few goroutines (expiry workers, the interval loop);
// Engine.Close stops them and waits for them. Close is idempotent and safe
// while other calls run; afterwards every call returns engine.ErrClosed,
// except Engine.Snapshot. Several engines may live in one process; none
// shares state with another.
//
// Presence can outlive the process. Engine.Snapshot writes everything an
// engine holds to an io.Writer, while it serves or after Close; Engine.Restore
// reads it into a new engine before that one serves. Deadlines travel as
// wall-clock instants, so a member whose deadline passed while the process was
// down times out right after the restore, the others keep the time they had
// left, and no restored member joins again. The presenced command does this
// with -state-file: restored at start, written in the background and on
// shutdown.
//
// # Performance
//
// A heartbeat of a present member takes no lock and does not allocate: one
// lock-free lookup of the uuid and one compare-and-swap of the deadline. It
// does not touch the expiry wheel, which files each member in a coarse slot
// and looks at it again only when that slot comes due. Timers run per
// non-empty slot, never one per member. A join of a new uuid to one channel
// allocates only the uuid's record, and a leave allocates nothing.
// Memberships cost about 72 bytes each besides the uuid and channel strings,
// which are stored once. Here Now occupancy is O(1). BENCHMARKS.md has the
// figures, measured beside naive designs.
package presence
