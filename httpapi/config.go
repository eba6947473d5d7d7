package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/presenced/presence/engine"
)

// ErrInvalidConfig is returned, wrapped with the offending field, by New for a
// Config it cannot serve.
var ErrInvalidConfig = errors.New("httpapi: invalid config")

// Config configures the handler New returns. The zero value serves every sub
// key, unsigned, and allows every request.
type Config struct {
	// Keys lists the sub keys served. Nil or empty means any sub key (demo
	// mode); otherwise a request for a sub key not listed gets 400
	// "Invalid Subscribe Key".
	Keys []Key
	// Authorizer decides access; nil allows everything.
	Authorizer Authorizer
	// Now is the clock that signature timestamps are checked against, that
	// /time/0 reports and that subscribe cursors start from. Nil means
	// time.Now. It must agree with the engine's clock (engine.Config.Now),
	// which stamps the events' timetokens.
	Now func() time.Time
	// Logger receives the errors behind 5xx answers (and nothing else). Nil
	// means slog.Default().
	Logger *slog.Logger
	// Observe, if set, is called once per request, after the response is
	// written, on the request's goroutine, with the endpoint name (one of the
	// Endpoint constants), the status code and the time the request took. It
	// is meant for metrics and must be safe for concurrent use.
	Observe func(endpoint string, status int, d time.Duration)

	// SubscribeHold is how long a subscribe long-poll waits for presence
	// events before it answers with none. Zero means 280 s
	// (DefaultSubscribeHold). A long-poll moves the write deadline of its
	// own response (http.ResponseController) to its hold plus 50 s, so a
	// server's WriteTimeout need only suit the other calls.
	SubscribeHold time.Duration
	// SubscribeCacheBytes bounds the memory of the presence events kept per
	// sub key for the long-poll: their encoded size plus a fixed overhead per
	// event. Zero means 4 MiB (DefaultSubscribeCacheBytes).
	SubscribeCacheBytes int
	// SubscribeCacheAge is how long a presence event is kept for the
	// long-poll. A client whose cursor falls behind what is kept is told to
	// refresh (see the package documentation). Zero means 5 min
	// (DefaultSubscribeCacheAge); otherwise at least 1 s.
	SubscribeCacheAge time.Duration
	// DisableImplicitHeartbeat stops subscribe calls from counting as
	// heartbeats on the channels and groups they name. By default, as with
	// PubNub, each answer to a subscribe call is also a heartbeat.
	DisableImplicitHeartbeat bool
	// SubscribeShared is for servers that share one presence and its
	// timetokens (cluster.Node), or a server that took over a presence and
	// its timetokens from another (an engine restored from a snapshot): a
	// subscribe client may move from one to another with its cursor. The
	// long-poll's event feed starts with New and keeps the events of every
	// sub key from then on, not only those of sub keys a subscribe call has
	// named, so a cursor handed out by another server finds the events after
	// it; and a cursor up to a minute ahead of this server's clock is taken
	// as it is, rather than as a handshake.
	SubscribeShared bool
}

// Defaults of the subscribe long-poll, applied by New to zero Config fields.
const (
	DefaultSubscribeHold       = 280 * time.Second
	DefaultSubscribeCacheBytes = 4 << 20
	DefaultSubscribeCacheAge   = 5 * time.Minute
)

// Key is one sub key served, with the keys that sign its requests.
type Key struct {
	// SubKey is the subscribe key. Required.
	SubKey string
	// PubKey is the publish key. Signatures cover it, so clients that sign
	// must be configured with the same one.
	PubKey string
	// SecretKey, if set, requires every request for SubKey to carry a valid
	// v2 signature and a timestamp within 60 s of Config.Now (see Sign).
	SecretKey string
}

// Endpoint names, as passed to Config.Observe.
const (
	EndpointHeartbeat        = "heartbeat"
	EndpointLeave            = "leave"
	EndpointHereNow          = "here_now"
	EndpointHereNowGlobal    = "here_now_global"
	EndpointWhereNow         = "where_now"
	EndpointSetState         = "set_state"
	EndpointGetState         = "get_state"
	EndpointGroupAdd         = "channel_group_add"
	EndpointGroupRemove      = "channel_group_remove"
	EndpointGroupList        = "channel_group_list"
	EndpointGroupListGroups  = "channel_group_list_groups"
	EndpointGroupDelete      = "channel_group_delete"
	EndpointTime             = "time"
	EndpointNotFound         = "not_found"
	EndpointOptions          = "options"
	EndpointMethodNotAllowed = "method_not_allowed"
	EndpointURITooLong       = "uri_too_long"
	EndpointSubscribe        = "subscribe"
)

// MaxRequestURI is the longest request URI served, in bytes; a longer one
// gets 414.
const MaxRequestURI = 32 << 10

// New returns a Handler that serves PubNub's Presence and channel
// registration REST calls and the subscribe long-poll from p (an
// *engine.Engine, or any other Presence implementation), configured by cfg.
// It returns an error wrapping ErrInvalidConfig if p is nil, a Key is empty,
// malformed or listed twice, or a subscribe setting is out of range.
//
// The handler is safe for concurrent use. It does not own p: closing p is the
// caller's job, after which the handler answers 503. The first subscribe
// call opens a subscription (p.Subscribe) and starts one goroutine that feeds
// the long-polls; Close, or closing p's subscriptions, stops it.
func New(p Presence, cfg Config) (*Handler, error) {
	if isNil(p) {
		return nil, fmt.Errorf("%w: nil engine: New needs a Presence implementation", ErrInvalidConfig)
	}
	h := &Handler{
		p:       p,
		auth:    cfg.Authorizer,
		now:     cfg.Now,
		log:     cfg.Logger,
		observe: cfg.Observe,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if len(cfg.Keys) > 0 {
		h.keys = make(map[string]*Key, len(cfg.Keys))
		for i, k := range cfg.Keys {
			if err := checkSubKey(k.SubKey); err != nil {
				return nil, fmt.Errorf("%w: Keys[%d]: sub key %q %s", ErrInvalidConfig, i, k.SubKey, err)
			}
			if _, dup := h.keys[k.SubKey]; dup {
				return nil, fmt.Errorf("%w: Keys[%d]: sub key %q is listed twice", ErrInvalidConfig, i, k.SubKey)
			}
			h.keys[k.SubKey] = &k // a copy: later changes to cfg.Keys do not apply
		}
	}
	if err := h.initSubscribe(cfg); err != nil {
		return nil, err
	}
	return h, nil
}

// isNil reports whether p is nil, or a nil pointer in an interface (a nil
// *engine.Engine, say).
func isNil(p Presence) bool {
	if p == nil {
		return true
	}
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// checkSubKey applies the rules a sub key must meet to appear in a request
// path and in the engine.
func checkSubKey(sk string) error {
	switch {
	case sk == "":
		return errors.New("is empty")
	case len(sk) > engine.MaxSubKeyBytes:
		return fmt.Errorf("is longer than %d bytes", engine.MaxSubKeyBytes)
	case !utf8.ValidString(sk):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range sk {
		if r <= 0x20 || r == 0x7f || r == '/' || r == ',' || r == '?' || r == '#' || r == '%' {
			return fmt.Errorf("contains %q", r)
		}
	}
	return nil
}
