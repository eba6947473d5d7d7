package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/feed"
)

// Handler serves PubNub's Presence REST calls and the subscribe long-poll
// from a Presence implementation. Create it with New; Close releases the
// long-polls and stops the event feed behind them.
//
// A Handler is safe for concurrent use and must not be copied.
type Handler struct {
	p       Presence
	keys    map[string]*Key // nil: any sub key
	auth    Authorizer
	now     func() time.Time
	log     *slog.Logger
	observe func(string, int, time.Duration)

	sub  subscribeConfig
	feed *feed.Feed // presence events for the subscribe long-poll

	pool sync.Pool // of *scratch
}

// scratch is one request's working memory, pooled so that a heartbeat of a
// present member allocates nothing in the handler.
type scratch struct {
	rt  route
	q   query
	ep  *endpoint // the route table's row; set by serve before anything fails
	sk  string    // unescaped sub key
	cb  string    // validated JSONP callback, or ""
	exp *engine.Expansion

	// expansion is the memory behind exp: the call's channels and groups
	// as authorize resolved them once, for the Authorizer and the call.
	expansion engine.Expansion

	chans  [8]string // backing arrays for short name lists
	groups [4]string
	buf    []byte // response body
}

func (h *Handler) scratch() *scratch {
	if s, ok := h.pool.Get().(*scratch); ok {
		return s
	}
	return &scratch{buf: make([]byte, 0, 512)}
}

func (h *Handler) release(s *scratch) {
	buf := s.buf
	if cap(buf) > 64<<10 {
		buf = nil // do not pin a large answer
	}
	*s = scratch{buf: buf[:0]}
	h.pool.Put(s)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var start time.Time
	if h.observe != nil {
		start = time.Now()
	}
	s := h.scratch()
	status := h.serve(w, r, s)
	name := s.ep.name
	h.release(s)
	if h.observe != nil {
		h.observe(name, status, time.Since(start))
	}
}

// Rows of the answers given before a request is routed.
var (
	endpointURITooLong = endpoint{name: EndpointURITooLong, service: servicePresence}
	endpointOptions    = endpoint{name: EndpointOptions, service: servicePresence}
	endpointMethod     = endpoint{name: EndpointMethodNotAllowed, service: servicePresence}
)

// serve answers r and returns the status it wrote.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, s *scratch) int {
	s.ep = &endpoints[routeNone]
	if requestURILen(r) > MaxRequestURI {
		s.ep = &endpointURITooLong
		return h.fail(w, r, s, errURITooLong)
	}
	if r.Method == http.MethodOptions {
		s.ep = &endpointOptions
		return preflight(w, r)
	}

	path := requestPath(r)
	s.rt = match(path)
	qerr := parseQuery(r.URL.RawQuery, &s.q)
	s.rt.kind = refine(s.rt.kind, &s.q)
	s.ep = &endpoints[s.rt.kind]

	cb := s.q.callback
	if (s.rt.kind == routeTime || s.rt.kind == routeSubscribe) && s.rt.callback != "0" {
		cb = s.rt.callback
	}
	if cb != "" && !validCallback(cb) {
		return h.fail(w, r, s, badRequest("Invalid callback: not a JavaScript identifier path"))
	}
	s.cb = cb

	switch {
	case s.ep.serve == nil:
		return h.fail(w, r, s, &apiError{status: http.StatusNotFound, message: "Not found: '" + path + "'"})
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header()["Allow"] = hdrAllow
		s.ep = &endpointMethod
		return h.fail(w, r, s, errMethod)
	case s.ep.bare:
		return s.ep.serve(h, w, r, s)
	}

	sk, err := unescapePathSegment(s.rt.subKey, "sub key")
	if err != nil {
		return h.fail(w, r, s, errInvalidSubKey)
	}
	s.sk = sk
	if h.keys != nil {
		k := h.keys[sk]
		if k == nil {
			return h.fail(w, r, s, errInvalidSubKey)
		}
		if k.SecretKey != "" && !verifySignature(k, r.Method, path, r.URL.RawQuery, &s.q, h.now()) {
			return h.fail(w, r, s, errSignature)
		}
	}
	if qerr != nil {
		return h.fail(w, r, s, qerr)
	}
	return s.ep.serve(h, w, r, s)
}

// requestURILen is the length of the request URI as sent.
func requestURILen(r *http.Request) int {
	if r.RequestURI != "" {
		return len(r.RequestURI)
	}
	return len(r.URL.RequestURI()) // a request built by hand
}

// preflight answers a CORS preflight request.
func preflight(w http.ResponseWriter, r *http.Request) int {
	h := w.Header()
	setCommon(h)
	h["Access-Control-Max-Age"] = hdrMaxAge
	if ah := r.Header.Get("Access-Control-Request-Headers"); ah != "" {
		h.Set("Access-Control-Allow-Headers", ah)
	}
	h["Content-Length"] = hdrZero
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// fail answers err: its status and PubNub's error body. Errors that are not
// the client's doing are logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *scratch, err error) int {
	e, internal := classify(err)
	if internal {
		level := slog.LevelError
		if e.status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		h.log.LogAttrs(r.Context(), level, "httpapi: request failed",
			slog.String("endpoint", s.ep.name),
			slog.Int("status", e.status),
			slog.String("path", r.URL.Path),
			slog.String("error", cause(err).Error()))
	}
	if e.retry != nil {
		w.Header()["Retry-After"] = e.retry
	}
	s.buf = appendError(s.buf[:0], e, s.ep.service)
	return writeBody(w, e.status, s.buf, s.cb)
}

// internalError marks an error that is not the client's doing, such as an
// Authorizer's failure: it answers 500 whatever it wraps.
type internalError struct{ err error }

func (e internalError) Error() string { return e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

func cause(err error) error {
	var ie internalError
	if errors.As(err, &ie) {
		return ie.err
	}
	return err
}

// access is what a call acts on, as its Authorizer request names it.
type access struct {
	// uuid is the uuid the call acts for; "" when it names none.
	uuid string
	// chans and groups are the channels and channel groups the call names.
	chans, groups []string
}

// authorize asks the Authorizer, if any, whether the call may proceed. Before
// that it checks a's names with the engine's rules, so an Authorizer sees
// only names the engine accepts. For a presence call (expandsGroups) it
// resolves the groups into their channels, once: the Authorizer is asked
// about those, and s.exp, which the call hands to the Presence
// implementation, makes the call act on exactly them.
func (h *Handler) authorize(ctx context.Context, s *scratch, a access) error {
	if h.auth == nil {
		return nil
	}
	rules := s.ep.rules
	if rules&namesUUID != 0 {
		if err := engine.ValidateUUID(a.uuid); err != nil {
			return err
		}
		if rules&expandsGroups != 0 && len(a.chans) == 0 && len(a.groups) == 0 {
			return engine.ErrNoChannels // a 400, whatever the grants
		}
	}
	for _, ch := range a.chans {
		if err := engine.ValidateChannel(ch); err != nil {
			return err
		}
	}
	for _, g := range a.groups {
		if err := engine.ValidateGroup(g); err != nil {
			return err
		}
	}
	req := Request{Endpoint: s.ep.name, SubKey: s.sk, Auth: s.q.auth, UUID: a.uuid, Op: s.ep.op, Channels: a.chans, Groups: a.groups}
	if rules&expandsGroups != 0 && len(a.groups) > 0 {
		x, err := engine.Expand(a.chans, a.groups, func(g string) ([]string, error) {
			return h.p.GroupChannels(s.sk, g)
		})
		if err != nil {
			return err
		}
		s.expansion = x
		s.exp = &s.expansion
		req.Channels, req.FromGroups = x.Channels, len(x.Via)
	}
	return h.ask(ctx, req)
}

// ask hands req to the Authorizer and turns its answer into an error: nil
// when allowed, a 403 when denied.
func (h *Handler) ask(ctx context.Context, req Request) error {
	d, err := h.auth.Authorize(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return internalError{err}
	}
	if !d.IsZero() {
		denied := d // only a denial moves to the heap
		return &apiError{status: http.StatusForbidden, message: "Forbidden", service: serviceAccess, denied: &denied}
	}
	return nil
}

// time answers /time/0 with the current timetoken, a JSON number.
func (h *Handler) time(w http.ResponseWriter, _ *http.Request, s *scratch) int {
	b := append(s.buf[:0], '[')
	b = strconv.AppendInt(b, events.Timetoken(h.now()), 10) // 17 digits since 2001
	b = append(b, ']')
	s.buf = b
	return writeBody(w, http.StatusOK, b, s.cb)
}
