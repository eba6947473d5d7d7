package httpapi

import "context"

// Operation is the permission a request needs, after PubNub's Access Manager.
type Operation string

// The operations. Each endpoint needs one:
//
//	read    heartbeat, here now (one channel, several, global), get state,
//	        set state, listing the channels of a channel group, subscribe
//	write   none of the endpoints served here (publishing)
//	manage  adding channels to and removing channels from a channel group,
//	        deleting a channel group, listing the channel groups
//	none    leave, where now
//
// Set state needs read, not write, as in PubNub. Listing a group's channels
// needs read on the group: it reveals no more than subscribing to the group
// would. Listing every group of a sub key needs manage, as it reveals groups
// one may have no grant on.
const (
	OpNone   Operation = "none"
	OpRead   Operation = "read"
	OpWrite  Operation = "write"
	OpManage Operation = "manage"
)

// Request is what an Authorizer decides on. It is a plain value.
type Request struct {
	// Endpoint is the endpoint called, one of the Endpoint constants.
	Endpoint string
	// SubKey is the sub key of the call and Auth the auth key or token the
	// client sent ("" when none).
	SubKey, Auth string
	// UUID is the uuid the call acts for, when it names one: the uuid
	// parameter of heartbeat, leave and subscribe, the uuid in the path of
	// get and set state and where now.
	UUID string
	// Op is the permission the call needs.
	Op Operation
	// Channels are the channels the call acts on. For subscribe, the
	// channels named, presence names ("ch-pnpres") included, and Groups
	// likewise; groups are not expanded. For presence calls, the
	// channels named in the path followed by the member channels of Groups
	// as the groups are when the call is authorized, each once; the last
	// FromGroups of them were reached only through a group. For adding
	// channels to or removing them from a group, the channels listed.
	Channels []string
	// FromGroups is how many channels at the end of Channels came only from
	// expanding Groups. Zero, the zero value, treats every channel as named.
	FromGroups int
	// Groups are the channel groups the call names.
	Groups []string
}

// NamedChannels returns the channels the client named itself: Channels
// without those reached only through a group.
func (r Request) NamedChannels() []string {
	n := len(r.Channels) - r.FromGroups
	if n < 0 {
		n = 0
	}
	return r.Channels[:n]
}

// Denied is an Authorizer's refusal, a plain value. Its zero value allows the
// request;
// anything else denies it whole, with 403 in Access Manager's shape, and
// nothing of the request is applied.
type Denied struct {
	// Channels and Groups are the names refused. The 403 body lists them:
	// payload.channels, and payload["channel-groups"] with each group
	// prefixed by ":", as PubNub does.
	Channels, Groups []string
	// All refuses the request without naming anything, for requests that
	// name nothing (global here now, listing groups) or an unknown auth key.
	All bool
}

// IsZero reports whether d allows the request.
func (d Denied) IsZero() bool {
	return !d.All && len(d.Channels) == 0 && len(d.Groups) == 0
}

// Authorizer decides whether a request may proceed. It is called once per
// request that names a sub key, after the signature check and the handler's
// own parameter checks (names are checked with the engine's rules first, so
// it sees only names the engine accepts) and before the engine is touched,
// also for operations that need no permission (OpNone), so that it may
// refuse an auth key outright. It is not called for /time/0.
//
// Authorize runs on the request's goroutine and must be safe for concurrent
// use. It must not keep r.Channels or r.Groups after it returns: the handler
// reuses their memory. It returns a non-zero Denied to refuse (403); an error
// answers 500 and is logged, or 503 if the request's context has ended.
type Authorizer interface {
	Authorize(ctx context.Context, r Request) (Denied, error)
}
