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
	"github.com/presenced/presence/internal/feed"
)

// Handler serves PubNub's Presence REST calls and the subscribe long-poll
// from an engine. Create it with New; Close releases the long-polls and stops
// the event feed behind them.
//
// A Handler is safe for concurrent use and must not be copied.
type Handler struct {
	eng     *engine.Engine
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
	ep  string // endpoint name
	svc string // service named in error bodies
	sk  string // unescaped sub key
	cb  string // validated JSONP callback, or ""

	chans  [8]string // backing arrays for short name lists
	groups [4]string
	names  []string // backing for expanded lists
	buf    []byte   // response body
}

func (h *Handler) scratch() *scratch {
	if s, ok := h.pool.Get().(*scratch); ok {
		return s
	}
	return &scratch{buf: make([]byte, 0, 512)}
}

func (h *Handler) release(s *scratch) {
	buf, names := s.buf, s.names
	if cap(buf) > 64<<10 {
		buf = nil // do not pin a large answer
	}
	if cap(names) > 1024 {
		names = nil
	}
	clear(names[:cap(names)])
	*s = scratch{buf: buf[:0], names: names[:0]}
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
	ep := s.ep
	h.release(s)
	if h.observe != nil {
		h.observe(ep, status, time.Since(start))
	}
}

// serve answers r and returns the status it wrote.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, s *scratch) int {
	s.svc = servicePresence
	if requestURILen(r) > MaxRequestURI {
		s.ep = EndpointURITooLong
		return h.fail(w, r, s, errURITooLong)
	}
	if r.Method == http.MethodOptions {
		s.ep = EndpointOptions
		return preflight(w, r)
	}

	path := escapedPath(r.URL)
	s.rt = match(path)
	qerr := parseQuery(r.URL.RawQuery, &s.q)
	s.ep = endpointOf(s.rt.kind, &s.q)
	switch s.rt.kind {
	case routeGroups, routeGroup, routeGroupDelete:
		s.svc = serviceRegistry
	}

	cb := s.q.callback
	if (s.rt.kind == routeTime || s.rt.kind == routeSubscribe) && s.rt.callback != "0" {
		cb = s.rt.callback
	}
	if cb != "" && !validCallback(cb) {
		return h.fail(w, r, s, badRequest("Invalid callback: not a JavaScript identifier path"))
	}
	s.cb = cb

	switch {
	case s.rt.kind == routeNone:
		return h.fail(w, r, s, &apiError{status: http.StatusNotFound, message: "Not found: '" + path + "'"})
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header()["Allow"] = hdrAllow
		s.ep = EndpointMethodNotAllowed
		return h.fail(w, r, s, errMethod)
	case s.rt.kind == routeTime:
		return h.time(w, s)
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

	switch s.rt.kind {
	case routeSubscribe:
		return h.subscribe(w, r, s)
	case routeHeartbeat:
		err = h.heartbeat(w, r, s)
	case routeLeave:
		err = h.leave(w, r, s)
	case routeHereNow, routeHereNowGlobal:
		err = h.hereNow(w, r, s)
	case routeWhereNow:
		err = h.whereNow(w, r, s)
	case routeGetState:
		err = h.getState(w, r, s)
	case routeSetState:
		err = h.setState(w, r, s)
	case routeGroups:
		err = h.listGroups(w, r, s)
	case routeGroup:
		err = h.group(w, r, s)
	case routeGroupDelete:
		err = h.deleteGroup(w, r, s)
	}
	if err != nil {
		return h.fail(w, r, s, err)
	}
	return http.StatusOK
}

// endpointOf names the endpoint of a route; a channel group's calls differ
// by their parameters.
func endpointOf(k routeKind, q *query) string {
	switch k {
	case routeTime:
		return EndpointTime
	case routeHereNowGlobal:
		return EndpointHereNowGlobal
	case routeHereNow:
		return EndpointHereNow
	case routeHeartbeat:
		return EndpointHeartbeat
	case routeLeave:
		return EndpointLeave
	case routeGetState:
		return EndpointGetState
	case routeSetState:
		return EndpointSetState
	case routeWhereNow:
		return EndpointWhereNow
	case routeGroups:
		return EndpointGroupListGroups
	case routeGroup:
		switch {
		case q.has&pAdd != 0:
			return EndpointGroupAdd
		case q.has&pRemove != 0:
			return EndpointGroupRemove
		}
		return EndpointGroupList
	case routeGroupDelete:
		return EndpointGroupDelete
	case routeSubscribe:
		return EndpointSubscribe
	}
	return EndpointNotFound
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
			slog.String("endpoint", s.ep),
			slog.Int("status", e.status),
			slog.String("path", r.URL.Path),
			slog.String("error", cause(err).Error()))
	}
	if e.retry {
		w.Header()["Retry-After"] = hdrRetryAfter
	}
	s.buf = appendError(s.buf[:0], e, s.svc)
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

// authorize asks the Authorizer, if any, whether the call may proceed.
// Before that it checks the names with the engine's rules, so an Authorizer
// sees only names the engine accepts. If expand is set, groups are expanded
// into their member channels (presence calls).
func (h *Handler) authorize(ctx context.Context, s *scratch, op Operation, uuid string, checkUUID bool, chs, groups []string, expand bool) error {
	if h.auth == nil {
		return nil
	}
	if checkUUID {
		if err := engine.ValidateUUID(uuid); err != nil {
			return err
		}
		if expand && len(chs) == 0 && len(groups) == 0 {
			return engine.ErrNoChannels // a 400, whatever the grants
		}
	}
	for _, ch := range chs {
		if err := engine.ValidateChannel(ch); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if err := engine.ValidateGroup(g); err != nil {
			return err
		}
	}
	req := Request{Endpoint: s.ep, SubKey: s.sk, Auth: s.q.auth, UUID: uuid, Op: op, Channels: chs, Groups: groups}
	if expand {
		var err error
		if req.Channels, req.FromGroups, err = h.expand(s, chs, groups); err != nil {
			return err
		}
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

// expand returns chs without duplicates followed by the member channels of
// groups that chs does not name, and the number of the latter.
func (h *Handler) expand(s *scratch, chs, groups []string) ([]string, int, error) {
	out := s.names[:0]
	var seen map[string]struct{}
	add := func(ch string) {
		if seen != nil {
			if _, dup := seen[ch]; dup {
				return
			}
			seen[ch] = struct{}{}
		} else {
			for _, x := range out {
				if x == ch {
					return
				}
			}
			if len(out) == 16 {
				seen = make(map[string]struct{}, 64)
				for _, x := range out {
					seen[x] = struct{}{}
				}
				seen[ch] = struct{}{}
			}
		}
		out = append(out, ch)
	}
	for _, ch := range chs {
		add(ch)
	}
	named := len(out)
	for _, g := range groups {
		members, err := h.eng.GroupChannels(s.sk, g)
		if err != nil {
			return nil, 0, err
		}
		for _, ch := range members {
			add(ch)
		}
	}
	s.names = out
	return out, len(out) - named, nil
}

// time answers /time/0 with the current timetoken.
func (h *Handler) time(w http.ResponseWriter, s *scratch) int {
	tt := h.now().UnixNano() / 100
	b := append(s.buf[:0], '[')
	b = strconv.AppendInt(b, tt, 10) // 17 digits since 2001
	b = append(b, ']')
	s.buf = b
	return writeBody(w, http.StatusOK, b, s.cb)
}
