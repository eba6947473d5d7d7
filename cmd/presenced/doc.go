// Presenced is a presence server with PubNub Presence semantics: the presence
// engine behind PubNub's REST API, so that PubNub SDKs and plain HTTP clients
// can use it unchanged.
//
// Run it with in-memory defaults, listening on 127.0.0.1:8080:
//
//	go run ./cmd/presenced
//	curl 'http://127.0.0.1:8080/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice'
//
// # Flags and environment
//
// Every flag can also be set by an environment variable named PRESENCED_ and
// the flag's name in upper case with "-" as "_": -default-timeout is
// PRESENCED_DEFAULT_TIMEOUT. The variable gives the value; a flag on the
// command line, when present, overrides it. Durations take Go syntax ("90s",
// "5m") or a bare number of seconds ("300"). A value outside a flag's bounds,
// 0 included, is refused with an error naming the flag: 0 does not mean the
// default, which each flag shows.
//
//	-addr              host:port to listen on (127.0.0.1:8080); port 0 picks a
//	                   free port, and the "listening" log line shows the one bound
//	-config            JSON config file with keys and grants (below)
//	-default-timeout   presence timeout of a heartbeat that names none (300s);
//	                   more than 0, clamped to -min-timeout and -max-timeout
//	-min-timeout       smaller heartbeat timeouts are raised to it (20s); at
//	                   least 1s
//	-max-timeout       larger heartbeat timeouts are lowered to it (1h); at
//	                   least -min-timeout
//	-tick              resolution of expiry (1s); at least 1ms and at most
//	                   -min-timeout
//	-announce-max      occupancy above which a channel sends interval events (20;
//	                   0 means 20, negative means always announce)
//	-interval          period of interval events (10s); at least 1ms
//	-deltas            list joins, leaves and timeouts in interval events (false)
//	-max-members       most memberships held, 0 for no bound (0)
//	-log-format        text or json (text)
//	-log-level         debug, info, warn or error (info); debug logs every request
//	-shutdown-timeout  how long a signal waits for in-flight requests (10s)
//	-subscribe-hold    how long a subscribe long-poll waits for presence events
//	                   before answering with none (280s)
//	-subscribe-cache-bytes
//	                   memory bound of the presence events kept per sub key for
//	                   the long-polls (4194304)
//	-subscribe-cache-age
//	                   how long those events are kept, at least 1s (5m); a client
//	                   further behind is told to refresh
//	-no-implicit-heartbeat
//	                   subscribe calls do not count as heartbeats on the plain
//	                   channels and groups they name (false)
//	-console-token     serve the live console at /console/, behind HTTP basic
//	                   auth with this token as the password (none: off); at
//	                   least 16 bytes
//
// # Config file
//
// The file named by -config is a JSON object with two optional members:
//
//	{
//	  "keys": [
//	    {"sub_key": "sub-c-demo"},
//	    {"sub_key": "sub-c-signed", "pub_key": "pub-c-signed", "secret_key": "sec-c-signed"}
//	  ],
//	  "grants": {
//	    "sub-c-demo": {
//	      "*":         {"channels": {"*": "r"}},
//	      "admin-key": {"channels": {"*": "rwm"}, "groups": {"*": "rm"}}
//	    },
//	    "sub-c-signed": {"*": {"channels": {"*": "rwm"}, "groups": {"*": "rm"}}}
//	  }
//	}
//
// keys lists the sub keys served; without it every sub key is served. A key
// with a secret_key (which needs its pub_key) accepts only requests carrying a
// valid PubNub v2 signature. grants is the static grant table that
// httpapi.LoadGrants reads: sub key, then auth key ("*" for any), then channel
// and group patterns with their permissions (r read, w write, m manage).
// Without grants every request is allowed; with them, whatever they do not
// grant is refused (403). Unknown members are errors, so that a misspelt one
// is not silently ignored. Every error in the file names the file and the
// place, as "config presenced.json: line 4, column 22: keys[1]: unknown
// field "pubkey" (known: sub_key, pub_key, secret_key)".
//
// # Endpoints
//
// Besides the PubNub API, the server answers:
//
//	/healthz   200 "ok" while the server runs
//	/metrics   Prometheus metrics: presenced_http_requests_total{endpoint,status},
//	           presenced_http_request_duration_seconds{endpoint} (histogram),
//	           the engine's gauges presenced_members, presenced_channels,
//	           presenced_uuids and counters presenced_heartbeats_total,
//	           presenced_joins_total, presenced_leaves_total,
//	           presenced_timeouts_total, presenced_events_published_total,
//	           presenced_events_dropped_total, the subscribe long-poll's
//	           gauges presenced_subscribe_waiting (long-polls waiting),
//	           presenced_subscribe_cached_sub_keys,
//	           presenced_subscribe_cached_events,
//	           presenced_subscribe_cached_bytes and counter
//	           presenced_subscribe_gaps_total, and the Go runtime and process
//	           collectors
//
// # Console
//
// With -console-token (or PRESENCED_CONSOLE_TOKEN, which other users of the
// machine cannot list as they can a command line), /console/ serves a live
// console: per sub key, channels by occupancy with a filter, a channel's
// members with their state and time left, a pausable tail of events, and
// charts of members and events per second. A browser asks for a user name
// (any) and a password (the token). The token guards every member's uuid
// and state: make it long and random (openssl rand -hex 16), and put TLS in
// front of presenced beyond a trusted network. Without the token, /console/
// answers 401 and tells nothing about presence; without the flag there is
// no console, and /console/ is a path of the PubNub API like any other (a
// 404). The console only reads presence; package console has the details.
//
// # Limits
//
// ReadHeaderTimeout is 10 s and ReadTimeout 30 s (every request is a GET
// without a body). WriteTimeout is 30 s for every request except a subscribe
// long-poll (/v2/subscribe/...), which is held for up to -subscribe-hold
// (280 s): its handler extends its own write deadline to the hold plus 50 s,
// so that the server's deadline never cuts a long-poll short while ordinary
// requests keep the short one. IdleTimeout is 120 s. MaxHeaderBytes is 64 KiB, above the API's 32 KiB
// limit on the request URI, so that a long URI reaches the API and is answered
// 414 in PubNub's shape rather than 431 by net/http.
//
// # Shutdown
//
// On SIGINT or SIGTERM the server stops accepting connections and waits up to
// -shutdown-timeout for in-flight requests to finish. Subscribe long-polls
// would hold that wait for up to -subscribe-hold, so as soon as the shutdown
// starts they are answered at once, as if their hold had run out: their own
// cursor and no events ({"t":{"t":"<tt>","r":1},"m":[]}), which PubNub
// clients read as an ordinary empty answer. Requests still running when
// the wait ends see their context cancelled and their connections closed.
// Then the engine is closed and the process exits 0. A second signal kills it
// at once.
package main
