// Package httpapi puts a presence engine behind PubNub's REST wire format, so
// that unmodified PubNub SDKs and plain HTTP clients can use it. New returns
// an http.Handler; mount it at the root of a server.
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
//
// Other answers are named not_found, options, method_not_allowed and
// uri_too_long. The subscribe long-poll (/v2/subscribe/...) is not served
// yet; the router leaves room for it.
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
//	uuid              the member (heartbeat, leave); get/set state and where now take it from the path
//	heartbeat         presence timeout in seconds: a positive integer, clamped by the engine; absent or
//	                  empty means the engine's default
//	state             heartbeat: a JSON object keyed by channel or group, each value that name's state;
//	                  set state: the state object; here now: "1" lists each member's state
//	channel-group     comma-separated channel groups; empty or "," means none
//	disable_uuids     here now: "1" or "true" counts only (also spelled disable-uuids; uuids=0 too)
//	limit, offset     here now: page each channel's uuid list; limit 0..1000 (default 1000, 0 counts
//	                  only, with empty uuid lists), offset >= 0
//	add, remove       channel groups: comma-separated channels
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
//	503     engine.ErrClosed, or the request's context       Service Unavailable
//	        ended
//
// A request that fails applies nothing. 5xx answers are logged to
// Config.Logger (500 at error level, 503 at warn); nothing else is.
//
// # JSONP
//
// callback=fn wraps the answer as fn(<json>); on /time/{callback} the path
// segment is the callback, "0" meaning none. Only a plain JavaScript
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
// tells which came from groups). GrantTable is a static Authorizer loaded
// from JSON (LoadGrants). Without an Authorizer everything is allowed.
//
// # Concurrency and cost
//
// The handler is safe for concurrent use and keeps no package-level state;
// several may serve one engine or several engines in one process. Requests
// borrow their working memory from a pool: a heartbeat of a present member,
// routed, parsed and answered, allocates nothing in this package (net/http's
// own allocations aside), which a test pins. Config.Observe and the
// Authorizer run on the request's goroutine.
package httpapi
