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
//	-state-file        file that keeps presence across restarts (none: presence
//	                   lives in memory only); see State file below
//	-state-interval    how often the state file is written in the background,
//	                   at most what a crash loses; 0 writes it only on
//	                   shutdown (30s)
//	-console-token     serve the live console at /console/, behind HTTP basic
//	                   auth with this token as the password (none: off); at
//	                   least 16 bytes
//	-nats              NATS server URLs, comma-separated: keep presence in NATS
//	                   JetStream, shared by every presenced on it (see Several
//	                   nodes below); none keeps it in memory
//	-nats-creds        NATS credentials file (a user JWT and its NKey seed)
//	-nats-tls-ca, -nats-tls-cert, -nats-tls-key
//	                   PEM files: the CAs of the NATS servers, and a client
//	                   certificate and key (both or neither)
//	-nats-bucket       name prefix of the JetStream buckets (presence)
//	-nats-buckets      buckets the members are spread over, by channel, 1 to
//	                   64 (1); every node must give the same
//	-nats-replicas     JetStream servers each bucket is kept on: 1, 3 or 5 (1)
//	-nats-storage      file or memory (file)
//	-nats-marker-ttl   how long markers of members that left or timed out stay
//	                   in the buckets, at most -min-timeout (0: -min-timeout)
//	-nats-timeout      how long a call waits for JetStream before a 503 (5s)
//	-nats-start-timeout
//	                   how long the start waits for NATS and for reading the
//	                   buckets (30s)
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
//	           presenced_subscribe_gaps_total, with -state-file the counter
//	           presenced_state_writes_total{result} (ok, error) and gauges
//	           presenced_state_last_write_timestamp_seconds,
//	           presenced_state_last_write_bytes,
//	           presenced_state_last_write_duration_seconds and
//	           presenced_state_last_write_lock_hold_seconds, and the Go
//	           runtime and process collectors
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
// # State file
//
// Without -state-file, presence lives in memory: a restart loses every
// member, without timeout events, and each one's next heartbeat joins again.
// With -state-file PATH (or PRESENCED_STATE_FILE), presence survives:
//
//   - At start, before the server listens, PATH is restored if it exists:
//     members, their state and the time they had left, channel groups, and
//     the channels in interval mode with their pending deltas. The time the
//     server was down counts: a member whose deadline passed meanwhile times
//     out right after the start (a timeout event), the others keep the rest
//     of their time, and nobody's next heartbeat is a join. Timetokens carry
//     on above those of the previous process, so a subscriber resuming with
//     its cursor sees no time go back; as the new process holds no events
//     from before it, the subscriber's first answer is an interval event
//     with here_now_refresh, telling it to call Here Now, followed by the
//     events since the start: with a state file, the subscribe feed keeps
//     every sub key's events from the start (within -subscribe-cache-bytes
//     and -subscribe-cache-age), not only those of sub keys a subscribe call
//     has named, as a node on NATS does. A missing file starts empty.
//   - Every -state-interval (30s by default), counted from the end of the
//     previous write, the file is written in the background while the server
//     serves; a heartbeat of a present member never waits for it.
//   - On SIGINT or SIGTERM, once requests have drained and the engine has
//     closed, the file is written a last time: a planned restart loses
//     nothing.
//
// Each write goes to a temporary file beside PATH (.NAME.tmp-*), which is
// synced, renamed over PATH, and the directory synced: PATH always holds the
// last whole write, so a crash or a kill -9 loses at most what changed since
// the last write. Temporary files left by a killed write are removed at the
// next start. The directory must exist and take new files, or the server
// does not start. A failed background write is logged and counted
// (presenced_state_writes_total{result="error"}), and the previous file
// stays; a failed last write makes the process exit 1.
//
// A file that does not restore (damaged, truncated, not a snapshot, of an
// unknown version, or too big for -max-members) stops the server at start,
// with a message that names the file and the problem, and the file is left
// as it was for the operator to look at. To start empty on purpose, move the
// file away (or delete it) and start again; the next write creates a new one.
//
// # Several nodes
//
// With -nats, presence is kept in NATS JetStream instead of memory (package
// cluster): every presenced on the same NATS with the same -nats-bucket
// shares one presence, so a load balancer may send any client to any node,
// and a subscribe client may move to another node with its cursor. Each
// heartbeat, leave and state change is a write to JetStream; each node
// reads every write back and derives the same events, with the same
// timetokens. The node that answered a call shows it at once; the others
// after the replication lag. Nodes must agree on -announce-max, -interval,
// -deltas, -nats-buckets and -nats-marker-ttl: a node that does not is
// refused at start, naming the setting. -tick does not apply: JetStream
// expires the members, at most about a second and its expiry delay after
// their deadlines. -state-file does not apply either (presence outlives
// every node in JetStream); giving both is refused.
//
// With NATS out of reach, presence calls answer 503 with Retry-After: 1 and
// apply nothing; reads answer from what the node last read; the node
// reconnects and carries on by itself. /metrics adds
// presenced_cluster_repairs_total (see cluster.Node.Repairs).
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
// Then the engine is closed, the state file (if any) is written, and the
// process exits 0. A second signal kills it at once.
package main
