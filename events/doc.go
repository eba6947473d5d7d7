// Package events defines presence events and the [Bus] that delivers them to
// in-process subscribers.
//
// # Events
//
// An [Event] records one change on one channel of one sub key: a uuid joined,
// left, timed out or changed its state, or (in interval mode) a summary of a
// busy channel. [Event.Occupancy] is the number of distinct uuids present on the
// channel after the change, so replaying a channel's events from empty gives the
// occupancy each event states. The publisher (the presence engine) fills in
// everything but [Event.Time], [Event.Timetoken] and [Event.Dropped]; the bus
// sets those (but see [Bus.Deliver]).
//
// # Order and timetokens
//
// [Bus.Publish] stamps each event with the wall clock and a timetoken: Unix time
// in 100 ns units (17 digits today), strictly increasing per sub key even when
// the clock stands still or steps back (a timetoken is max(previous+1, now)).
// A sub key's timetokens are assigned under one per-sub-key lock, and the
// matching subscriptions' locks are taken before it is released and held until
// the event is in, so every subscription receives a sub key's events in
// strictly increasing timetoken order (a consumer may use the timetoken as a
// cursor) while publishers to different subscriptions deliver in parallel.
// The engine publishes while it holds the channel's lock, so per channel,
// events come out in the order the changes were applied.
// Different sub keys are independent: their timetokens may repeat across keys
// and a subscription to every sub key sees them interleaved.
// [Bus.RaiseFloor] starts every sub key's timetokens above a given one: a
// process that restores presence saved by another passes it the other bus's
// [Bus.LastTimetoken], so that timetokens keep increasing across a restart.
//
// A publisher whose events already carry timetokens, decided by something
// that orders them for several servers at once, hands them over with
// [Bus.Deliver] instead: the bus keeps their Time and Timetoken, delivers
// them under the same locks, and refuses ([ErrOutOfOrder]) one whose
// timetoken is not above its sub key's last. [Timetoken] and
// [AppendTimetoken] are the one conversion from clock to timetoken and the
// one decimal form of a timetoken.
//
// # Subscriptions and buffer policies
//
// [Bus.Subscribe] takes a [Filter] (one sub key, some of its channels, or
// everything) and [Options]. Each subscription holds [Options.Buffer] events:
// up to half of them (at most 32) in the buffered channel returned by
// [Subscription.Events], the rest in a buffer behind it, which one goroutine
// of the subscription empties into the channel. Publishing puts an event
// straight into the channel while nothing waits behind it, and otherwise
// appends it to the buffer; it never waits for a subscriber. When the buffer
// is full, the subscription's [Policy] decides:
//
//   - [DropOldest] (the default): the oldest event of the buffer (not of the
//     channel, whose events are the reader's already) is dropped and
//     counted exactly. The next event delivered carries the number of events
//     dropped just before it in [Event.Dropped], a visible gap marker.
//     [Subscription.Dropped] and [BusStats.Dropped] give the totals.
//   - [Block]: nothing is dropped. The buffer grows past its size and the bus
//     applies back-pressure through [Bus.Wait] until the subscriber catches up.
//
// # Back-pressure
//
// [Bus.Wait] is the back-pressure point. It returns at once (one atomic load)
// unless some [Block] subscription holds more than its buffer size; then it
// waits until none does. The engine calls Wait before operations that emit
// events, before it takes any lock of its own. So with a [Block] subscription, a
// lagging subscriber pauses every caller of Wait, across all sub keys. A Block
// subscriber must therefore keep up, and must not call into the engine from its
// receive loop while it lags: that call would wait for the subscriber itself.
// Use DropOldest when a slow consumer must not slow the engine down.
//
// # Interval deltas
//
// A channel in interval mode replaces its join, leave and timeout events with
// one [Interval] event per period. [Deltas] accumulates the uuids that joined,
// left or timed out in between; once their JSON encoding would exceed
// [MaxDeltaBytes], it drops the lists and the interval event carries
// [Event.HereNowRefresh] instead, telling clients to call Here Now.
//
// # Concurrency and lifecycle
//
// [Bus] and [Subscription] are safe for concurrent use. [Bus.Close] and
// [Subscription.Close] may be called more than once and while other methods run;
// Bus.Close closes every subscription's channel and returns after every
// goroutine the bus started has exited. The bus keeps no package-level state:
// any number of buses can live in one process.
package events
