// Package console is a live presence console: a web page that shows who is
// present where, right now, and what just happened, for an operator to look
// at rather than read JSON. presenced serves it at /console/ when started
// with -console-token; a server of your own mounts a Console beside its
// other handlers.
//
// The page is plain HTML, CSS and JavaScript, embedded in the binary: no
// build step, nothing fetched from a CDN or a font service. It reads
// presence through httpapi.Presence, the interface the HTTP adapter serves,
// so it works with the in-memory engine and with any other implementation.
//
// # What it shows
//
// For the sub key chosen (the one with the most members at first; a box
// lists and accepts others), live:
//
//   - totals: channels, members (uuid and channel pairs) and uuids;
//   - charts of members and of events per second over the last minutes,
//     sampled by the server once a second;
//   - channels by occupancy, busiest first, a page at a time, with a filter
//     box (a case-insensitive substring of the name);
//   - the members of the channel picked, a page at a time, with their state
//     and the time each has left before it times out, counting down;
//   - a tail of the sub key's events (join, leave, timeout, state-change,
//     interval) with their timetokens, which can be paused (events that come
//     meanwhile are held and counted) and narrowed to the channel shown;
//   - where a uuid is, and its state there, on request.
//
// # Security
//
// Every request needs HTTP basic authentication: any user name, and
// Config.Token as the password, compared in constant time (of SHA-256
// digests, so that neither the token nor its length shows in the timing).
// Anything else is answered 401 with a WWW-Authenticate challenge before
// the path is even looked at: nothing about presence, not even whether a
// path exists, is told without the token. The token guards every member's
// uuid and state: make it long (New refuses one shorter than MinTokenLen),
// serve the console over TLS beyond a trusted network, and keep it off
// command lines that other users can list.
//
// The console only reads: every endpoint is GET (HEAD works too), and it
// calls no method of the service that changes presence (a test holds every
// endpoint to that). The page is served with a Content-Security-Policy that
// allows only its own script, style and origin, no framing, and it writes
// what the server sends (uuids, names and state are anyone's input) as
// text, never as HTML.
//
// # Endpoints
//
// Below Config.Path ("/console/"), all GET, all answering JSON but the
// stream and the page's files:
//
//	api/subkeys?limit=        sub keys with their totals, most members first (limit 1..1000, default 100)
//	api/channels?sub_key=&filter=&limit=&after=
//	                          a page of channels, busiest first; "next" is the after= of the next page
//	                          (limit 1..500, default 50)
//	api/members?sub_key=&channel=&limit=&offset=
//	                          a page of a channel's members with state and time_left_ms
//	api/uuid?sub_key=&uuid=   the channels a uuid is on (the first 100) with its state on each
//	api/stream?sub_key=&...   the page's Server-Sent Events (see below)
//
// Bad parameters get 400 with {"status":400,"error":"..."} naming the
// parameter; a read the service cannot serve gets 503 (closed or
// unreachable) or 500.
//
// # The stream
//
// api/stream keeps a page live with Server-Sent Events: hello, series (the
// chart so far), sample (each second: the totals and the sub key list),
// events (new events of the sub key, at most every 250 ms), channels and
// members (the pages shown, read again after events and every 2 s), failure
// (a read failed; the stream goes on) and bye (the server is shutting
// down). Its parameters are those of api/channels and api/members
// (member_limit for the members' page size) and since, a timetoken after
// which the tail resumes. The page opens a new stream when it shows
// something else.
//
// Server-Sent Events rather than WebSocket: the updates flow one way, the
// browser reconnects by itself, the requests are plain GETs that carry the
// browser's basic credentials and pass any HTTP proxy, and neither side
// needs a library. What the page asks for changes rarely (a filter, a page,
// a channel), and a new stream carries the change as well as a message
// upstream would.
//
// # Cost, at a million members
//
// No answer holds a whole keyspace: channels and members come a page at a
// time (at most 500), sub keys at most 1000, the tail at most 100 events
// per sub key, uuid lookups at most 100 channels.
//
// A page of members is a page of the engine's array of them: its memory
// does not depend on the channel's size (a test pins the same allocations
// and bytes for a page of a channel of a million members as of a thousand),
// nor does its time while the array has no holes. Leaves leave holes that
// later joins fill; until they do, a page also passes over the holes and
// members between the lowest hole and the page (engine.Engine.HereNow). The
// totals and a page of channels read each channel's occupancy, one atomic
// load, without a lock (engine.Engine.SubKeys and TopChannels): their time
// grows with the channels, about 50 ms for the totals and 0.1 to 0.3 s for a
// page at a million channels on this project's 2-core machine, while their
// memory is the page. So the console paces itself: it waits at least 20
// times as long as a read took before the next of its kind (the totals, and
// each page's channels, times the pages open), which keeps it to about a
// twentieth of a core however large the keyspace.
//
// The console watches events and samples totals only while a page is open,
// and Config.Linger (10 min) after the last has gone, so that a reload
// keeps its charts; a console that nobody looks at costs nothing. While it
// watches, it holds one subscription to every event of the service, with
// the DropOldest policy: it never slows the service down, and counts, and
// shows, what it could not keep up with. Streams are bounded
// (Config.MaxStreams, 16), and so are the events waiting for each (500; the
// page is told how many it missed).
//
// # Other implementations
//
// Totals per sub key, the busiest channels and each member's time left are
// not in httpapi.Presence. A service that also implements Inspector (as
// *engine.Engine does) serves them; for one that does not, the console
// falls back on HereNow of a whole sub key, counts only, and shows uuid
// totals and time left as unknown. See Inspector.
//
// # Lifecycle
//
// New starts nothing. Close ends every stream (each gets a bye), stops the
// watching, and waits for the streams' handlers and the console's goroutines;
// call it when the server starts shutting down (http.Server.RegisterOnShutdown),
// since the streams never end on their own. A Console is safe for concurrent
// use, keeps no package-level state, and several may serve one service.
package console
