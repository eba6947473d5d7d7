// Package httpapi puts a presence service behind PubNub's REST wire format
// and its subscribe long-poll, so that unmodified PubNub SDKs and plain HTTP
// clients can use it. The service is anything with the Presence method set:
// the in-memory *engine.Engine, or another implementation (members kept in a
// store that several servers share, for instance). New returns a Handler, an
// http.Handler; mount it at the root of a server, and Close it when the
// server shuts down.
//
// # Endpoints
//
// Every endpoint is GET (HEAD works too; OPTIONS answers a CORS preflight on
// any path). {sk} is the sub key; "sub-key" may also be spelled "sub_key".
// {chs} is a comma-separated channel list, or "," for none (groups only).
// The last column is the endpoint name given to Config.Observe and
// Request.Endpoint, then the permission an Authorizer is asked for.
//
//	/v2/presence/sub-key/{sk}/channel/{chs}/heartbeat     heartbeat                  read
//	/v2/presence/sub-key/{sk}/channel/{chs}/leave         leave                      none
//	/v2/presence/sub-key/{sk}/channel/{chs}               here_now                   read
//	/v2/presence/sub-key/{sk}                             here_now_global            read
//	/v2/presence/sub-key/{sk}/uuid/{uuid}                 where_now                  none
//	/v2/presence/sub-key/{sk}/channel/{chs}/uuid/{uuid}   get_state                  read
//	/v2/presence/sub-key/{sk}/channel/{chs}/uuid/{uuid}/data
//	                                                      set_state                  read
//	/v1/channel-registration/sub-key/{sk}/channel-group/{g}?add=a,b
//	                                                      channel_group_add          manage
//	/v1/channel-registration/sub-key/{sk}/channel-group/{g}?remove=a,b
//	                                                      channel_group_remove       manage
//	/v1/channel-registration/sub-key/{sk}/channel-group/{g}
//	                                                      channel_group_list         read
//	/v1/channel-registration/sub-key/{sk}/channel-group   channel_group_list_groups  manage
//	/v1/channel-registration/sub-key/{sk}/channel-group/{g}/remove
//	                                                      channel_group_delete       manage
//	/time/0                                               time                       (none asked)
//	/v2/subscribe/{sk}/{chs}/{callback|0}                 subscribe                  read
//
// Other answers are named not_found, options, method_not_allowed and
// uri_too_long.
//
// # Paths and parameters
//
// Routing looks at the path as sent, still escaped. A channel list is split
// on "," first and each name unescaped after, so "a%2Cb" is one name ("a,b",
// which the engine then rejects) and "%E2%9C%93" is "✓". An empty name
// ("a,,b", "a,") is a 400; "," alone means no channels.
//
// Query parameters, all optional unless the engine needs them:
//
//	uuid              the member (heartbeat, leave, subscribe); get/set state and where now take it from
//	                  the path
//	heartbeat         presence timeout in seconds (heartbeat, subscribe): a non-negative integer,
//	                  clamped by the engine; absent, empty or 0 means the engine's default
//	state             heartbeat, subscribe: a JSON object, keyed or unkeyed (see Heartbeat state);
//	                  set state: the state object; here now: "1" lists each member's state
//	channel-group     comma-separated channel groups; empty or "," means none
//	disable_uuids     here now: "1" or "true" counts only (also spelled disable-uuids; uuids=0 too)
//	limit, offset     here now: page each channel's uuid list; limit 0..1000 (default 1000, 0 counts
//	                  only, with empty uuid lists), offset >= 0
//	add, remove       channel groups: comma-separated channels
//	tt                subscribe: the cursor, a timetoken; absent, empty or 0 for a handshake (tr, the
//	                  region, is ignored: there is one)
//	auth              the auth key or token handed to the Authorizer
//	signature,        see Keys and signatures
//	timestamp
//	callback          JSONP: wrap the answer as callback(<json>)
//
// Unknown parameters are ignored (but signed). A parameter given twice keeps
// its first value. The state parameter is taken as raw JSON, byte for byte,
// when its value starts with an unescaped "{" (the Go SDK does not encode
// it): the value then runs to the end of that JSON object, "&", "%" and "+"
// inside it included. Otherwise it is percent-decoded like any other value.
//
// # Heartbeat state
//
// The state parameter of a heartbeat, and of a subscribe call's implicit
// heartbeat, is a JSON object in one of two forms. Keyed: some root key
// names a channel or group of the call; each value is that name's state (a
// group's applies to each of its channels, a channel's own entry winning),
// and keys naming anything else are ignored, the state of those names left
// as it is (the JavaScript SDK sends the state of every channel it has set
// state on with each heartbeat and subscribe call). Keyed by other channels:
// no root key names a channel or group of the call, but one whose value is
// an object names a channel the uuid is present on; nothing is set (the
// JavaScript SDK's event engine sends the state it holds for channel a with
// its heartbeats of channel b). Unkeyed: otherwise; the whole object is then
// the state of every channel and group the call names (the JavaScript SDK 12
// sends setState({channels, state, withHeartbeat: true}) so):
//
//	.../channel/a,b/heartbeat?uuid=u1&state={"a":{"mood":"happy"}}   a's state; b's unchanged
//	.../channel/b/heartbeat?uuid=u1&state={"a":{"mood":"happy"}}     u1 on a: b's unchanged
//	.../channel/a,b/heartbeat?uuid=u1&state={"mood":"happy"}         a's and b's state
//
// An empty object, {}, names nothing and changes no state (the JavaScript
// SDK sends one with each heartbeat when it holds no state); null is no
// state (the Go SDK's). Each value must be a JSON object within the
// engine's size bound, or the call is a 400 and applies nothing.
//
// # Responses
//
// Every answer carries Content-Type: text/javascript; charset="UTF-8",
// Access-Control-Allow-Origin: *, Access-Control-Allow-Methods: OPTIONS, GET,
// POST and Cache-Control: no-cache; a preflight adds Access-Control-Max-Age
// and echoes Access-Control-Request-Headers as Access-Control-Allow-Headers.
// Bodies:
//
//	heartbeat          {"status":200,"message":"OK","service":"Presence"}
//	leave              {"status":200,"action":"leave","message":"OK","service":"Presence"}
//	here now, one channel and no group
//	                   {"status":200,"message":"OK","service":"Presence","uuids":["u1"],"occupancy":1}
//	                   (uuids left out with disable_uuids; with state=1 each is {"uuid":"u1","state":{...}},
//	                   "state" left out when the member has none)
//	here now, several channels, groups, or global
//	                   {"status":200,"message":"OK","payload":{"channels":{"ch":{"uuids":[...],"occupancy":1}},
//	                   "total_channels":1,"total_occupancy":1},"service":"Presence"}
//	                   (channels without members left out)
//	where now          {"status":200,"message":"OK","payload":{"channels":["ch"]},"service":"Presence"}
//	set state          {"status":200,"message":"OK","payload":{...state...},"service":"Presence"}
//	get state, one channel and no group
//	                   {"status":200,"message":"OK","payload":{...state or {}...},"uuid":"u1","channel":"ch","service":"Presence"}
//	get state, otherwise
//	                   {"status":200,"message":"OK","payload":{"channels":{"ch":{...}}},"uuid":"u1","service":"Presence"}
//	group add, remove, delete
//	                   {"status":200,"message":"OK","service":"channel-registry","error":false}
//	group list         {"status":200,"payload":{"channels":["a"],"group":"g"},"service":"channel-registry","error":false}
//	list groups        {"status":200,"payload":{"groups":["g"]},"service":"channel-registry","error":false}
//	time               [17145648000000000]   (a 17-digit timetoken: Unix time in 100 ns units)
//	subscribe          {"t":{"t":"17145648000000000","r":1},"m":[...envelopes...]}   (see Subscribe long-poll)
//
// # Errors
//
// Errors have PubNub's body, {"status":400,"error":true,"message":"...",
// "service":"Presence"} (service "channel-registry" on the channel group
// endpoints), except 403, which has Access Manager's shape:
// {"message":"Forbidden","payload":{"channels":[...],"channel-groups":[":g"]},
// "error":true,"service":"Access Manager","status":403} ("channel-groups"
// only when groups are denied, each prefixed by ":" as PubNub does). With a
// valid callback, error bodies are wrapped too.
//
//	status  cause                                           message
//	400     engine.ErrInvalidUUID, ErrInvalidChannel,        the engine's, naming the parameter and the value,
//	        ErrInvalidGroup, ErrNoChannels,                  e.g. Invalid channel "a b": contains a space
//	        ErrTooManyChannels, ErrInvalidTimeout,
//	        ErrInvalidState, ErrStateTooLarge,
//	        ErrInvalidPaging
//	400     engine.ErrNotPresent (set state)                 You must be present in a channel to set state for
//	                                                         it: "u1" is not on a, b
//	400     engine.ErrGroupFull                              Maximum channel group count exceeded.
//	400     engine.ErrInvalidSubKey, or a sub key not in     Invalid Subscribe Key
//	        Config.Keys
//	400     set state without state                          No state specified.
//	400     bad heartbeat, limit, offset, state JSON,        Invalid <parameter>: ...
//	        percent-escape, add/remove, callback
//	403     bad or missing signature or timestamp            Signature does not match (service "Access Manager")
//	403     Authorizer denial                                Forbidden
//	404     unknown path                                     Not found: '<path>'
//	405     a method other than GET, HEAD, OPTIONS           Method Not Allowed (with Allow: OPTIONS, GET)
//	414     request URI over MaxRequestURI (32 KiB)          Request URI Too Long
//	500     Authorizer error, unexpected engine error        Internal Server Error
//	503     engine.ErrCapacity (Config.MaxMembers reached)   Service Unavailable, with Retry-After: 5
//	503     engine.ErrUnavailable (the implementation        Service Unavailable, with Retry-After: 1
//	        cannot reach its store)
//	503     engine.ErrClosed, or the request's context       Service Unavailable
//	        ended
//
// A request that fails applies nothing. 5xx answers are logged to
// Config.Logger (500 at error level, 503 at warn); nothing else is. A
// subscribe long-poll whose client goes away before it is answered writes
// nothing and is reported to Config.Observe with status 499.
//
// # JSONP
//
// callback=fn wraps the answer as fn(<json>); on /time/{callback} and
// /v2/subscribe/{sk}/{chs}/{callback} the path segment is the callback, "0"
// meaning none. Only a plain JavaScript
// identifier path is accepted: ASCII identifiers joined by ".", such as
// "a.b_c$1", at most 256 bytes. Anything else is a 400, unwrapped, so no
// script can be injected through the callback.
//
// # Keys and signatures
//
// Config.Keys lists the sub keys served; empty serves any (demo mode). A
// Key with a SecretKey requires every request for its sub key to be signed
// (see Sign): a "timestamp" parameter within SignatureWindow (60 s) of
// Config.Now, and a "signature" parameter equal to Sign over the method, the
// Key's PubKey, the path as sent and every other query parameter, decoded as
// described above. The comparison takes constant time. /time/0 is never
// signed.
//
// # Authorization
//
// Config.Authorizer, if set, is asked once per request that names a sub key,
// after the signature and the request's own checks and before the engine is
// touched: a denial is a 403 and applies nothing. For presence calls its
// Request lists the channels after group expansion (Request.FromGroups
// tells which came from groups). The groups are read once, for the
// Authorizer, and the call acts on exactly the channels it allowed
// (engine.Expansion), even if a group changes meanwhile. For subscribe it lists the channels and
// groups as named, presence names ("ch-pnpres", "g-pnpres") included, groups
// not expanded; GrantTable lets a grant on a name cover its presence name. GrantTable is a static Authorizer loaded
// from JSON (LoadGrants). Without an Authorizer everything is allowed.
//
// # Concurrency and cost
//
// The handler is safe for concurrent use and keeps no package-level state;
// several may serve one engine or several engines in one process. Requests
// borrow their working memory from a pool: a heartbeat of a present member,
// routed, parsed and answered, allocates nothing in this package (net/http's
// own allocations aside), which a test pins. Config.Observe and the
// Authorizer run on the request's goroutine. The subscribe long-poll adds
// one goroutine per Handler, started by the first subscribe call (see
// below).
//
// # Subscribe long-poll
//
// GET /v2/subscribe/{sk}/{chs}/{callback|0} delivers presence events to
// SDKs. A client receives the events of channel ch by naming "ch-pnpres" in
// {chs}, and those of every channel of group g by naming "g-pnpres" in
// channel-group. Plain names ("ch", "g") receive nothing here (messages are
// not served) but count as heartbeats (below).
//
// A call without a cursor (tt absent or 0, the handshake) is answered at
// once with the current timetoken: {"t":{"t":"<timetoken>","r":1},"m":[]}.
// A call with a cursor is held until there are events newer than it on its
// names, then answered with them, at most 100, and a new cursor to call
// with next; with none for Config.SubscribeHold (280 s), it is answered with
// "m":[] and its own cursor. Events that happen between two calls are in
// the next answer: none is lost or repeated while the client calls again
// with each answer's cursor. A cursor later than anything this server can
// have handed out (a clock stepped back, another server) is answered at once
// as a handshake would be. Each event is one envelope:
//
//	{"a":"0","f":0,"p":{"t":"<timetoken>","r":1},"k":"<sk>","c":"<ch>-pnpres",
//	 "d":{<event>},"b":"<ch>-pnpres or <g>-pnpres"}
//
// with "t", "p.t" and "a" strings. "b" is the name that matched: the
// channel's presence name if the call names it, else the first group's
// that holds the channel. "d" is the event as PubNub sends it:
//
//	join, leave, timeout   {"action":"join","uuid":"u1","timestamp":1714564800,
//	                        "precise_timestamp":1714564800123,"occupancy":2,"data":{...state...}}
//	                       ("data" left out when the member has no state; for leave and
//	                       timeout, the state it had)
//	state-change           the same, "data" the new state ({} when cleared)
//	interval               {"action":"interval","timestamp":1714564810,"occupancy":25,
//	                        "join":["u1"],"leave":["u2"],"timeout":["u3"]}
//	                       (empty lists left out; "here_now_refresh":true instead of the lists
//	                       when they would exceed 30 KB)
//
// Implicit heartbeat: unless Config.DisableImplicitHeartbeat is set, every
// answer to a subscribe call is also a heartbeat of its uuid on its plain
// channels and groups, with its heartbeat and state parameters, as PubNub
// does. It is registered just before the answer is written, not while the
// call waits; a call whose client goes away is not answered and heartbeats
// nothing. If the heartbeat fails, the answer is its error (the client
// keeps its cursor). A call without a heartbeat parameter, or with 0, uses
// the engine's default timeout: SDKs that send heartbeats of their own (the
// JavaScript SDK's event engine does) set their timeout with those.
// Leaving is the SDKs' own leave call.
//
// Groups: a call through groups waits on their channels as they are when it
// starts, expands them again each time it wakes and every 10 s, and answers
// with the events of the channels its groups hold then. An event on a
// channel added to a group while a call waits is delivered within 10 s;
// one on a channel removed is not delivered. (The alternative, waking every
// group waiter on every event of the sub key and filtering, costs each
// event as many wake-ups as there are group waiters.)
//
// Events come from a cache per sub key fed by one engine subscription
// (every sub key, events.DropOldest, 65,536 events of buffer), opened by the
// first subscribe call. A sub key's events are kept from its first
// subscribe call on, encoded once, for Config.SubscribeCacheAge (5 min;
// evicted up to 5 s later) and within Config.SubscribeCacheBytes (4 MiB) of
// memory, the oldest going first; a sub key without events or subscribe
// calls for the age is forgotten. Nothing grows without bound.
//
// Servers sharing one presence (Config.SubscribeShared, for cluster.Node,
// and for a server whose engine was restored from another's snapshot):
// the subscription opens with New, every sub key's events are kept from
// then on, within the same age and memory bounds, and no sub key is
// forgotten, so that a client arriving with a cursor another server handed
// out gets every event after it, once, if this server has kept it (else it
// is told to refresh, as below); a cursor up to a minute ahead of this
// server's head is taken as it is.
//
// Stale cursors: when events newer than a call's cursor on one of its
// channels may be gone (evicted, older than the cache of its sub key after a
// restart, or dropped because the feed fell behind the engine), the answer
// holds what is still kept, led by one envelope per such channel: an
// interval event with "here_now_refresh":true and the channel's occupancy
// now, at the timetoken up to which events may be missing. SDKs surface it
// as an interval event whose hereNowRefresh is set, which tells a client to
// call Here Now. The answer's cursor is past the loss, so the next call is
// an ordinary one. A sub key remembers, per channel, the newest event it
// evicted, for its last 4,096 evictions; past those, and on drops (whose
// channels are unknown: every waiting call of every sub key is woken and
// told), one floor per sub key stands for all its channels.
//
// Cost: a waiting call holds no goroutine beyond the one net/http gives its
// request, and no timer of the cache's: it waits in a select on its own wake
// channel, its hold timer and its context. It is registered under each of
// its channels (a map per sub key, of intrusive lists), so an event wakes
// only the calls waiting on its channel, and it leaves the registry at once
// when its client goes away. Close answers every waiting call at once, as
// if its hold had run out, and stops the feed; call it when a server starts
// shutting down (http.Server.RegisterOnShutdown), or the drain waits for
// the long-polls. SubscribeStats reports waiting calls and the cache's size.
// A long-poll moves the write deadline of its own response to its hold plus
// 50 s (http.ResponseController), so a server's WriteTimeout need only suit
// the other calls.
//
// # Design notes
//
// The seam. A Handler holds a Presence and calls nothing else: its routing,
// parsing, signatures, authorization, response shapes and long-poll waiting
// are transport; presence rules stay behind the interface. The handler's own
// tests run against a Presence that merely forwards to an engine, counting
// calls and injecting failures, so nothing here reaches past the interface.
//
// The vocabulary. The request and result types, the sentinel errors mapped
// to statuses, the name rules (engine.ValidateUUID, ValidateChannel,
// ValidateGroup, CompactState) and the group expansion (engine.Expand) stay
// in package engine rather than moving to a leaf package. They are plain
// data and pure functions that hold no state; the engine package imports
// nothing a second implementation would not compile anyway (it needs package
// events for Subscribe), so another implementation uses them from there and
// never creates an Engine. A leaf package would give every caller two names
// for each type, through aliases, and save nothing in what is compiled. The
// timetoken, computed by events.Timetoken and formatted by
// events.AppendTimetoken, lives beside the events that carry it.
//
// Events. The long-poll reads one subscription, opened with
// Presence.Subscribe, and takes each event's timetoken as it comes: those
// are the cursors clients hold. The engine's bus stamps its events; an
// implementation whose timetokens are decided elsewhere (the same on every
// server, so that a client may move between servers with its cursor) hands
// them to its bus with events.Bus.Deliver.
//
// One of each. The route table (one row per endpoint: its name, the
// permission it needs, what its Authorizer request holds, who serves it)
// replaces the switches of earlier versions; the groups of a call are
// expanded once per request; a timetoken is computed and formatted in one
// place each.
package httpapi
