package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// routeKind identifies what a request asks for: a path pattern and, for a
// channel group's path, which of its calls the parameters make it.
type routeKind uint8

const (
	routeNone          routeKind = iota
	routeTime                    // /time/{callback|0}
	routeHereNowGlobal           // /v2/presence/sub-key/{sk}
	routeHereNow                 // /v2/presence/sub-key/{sk}/channel/{chs}
	routeHeartbeat               // /v2/presence/sub-key/{sk}/channel/{chs}/heartbeat
	routeLeave                   // /v2/presence/sub-key/{sk}/channel/{chs}/leave
	routeGetState                // /v2/presence/sub-key/{sk}/channel/{chs}/uuid/{uuid}
	routeSetState                // /v2/presence/sub-key/{sk}/channel/{chs}/uuid/{uuid}/data
	routeWhereNow                // /v2/presence/sub-key/{sk}/uuid/{uuid}
	routeGroups                  // /v1/channel-registration/sub-key/{sk}/channel-group
	routeGroup                   // /v1/channel-registration/sub-key/{sk}/channel-group/{g}: list
	routeGroupDelete             // /v1/channel-registration/sub-key/{sk}/channel-group/{g}/remove
	routeSubscribe               // /v2/subscribe/{sk}/{chs}/{callback|0}
	routeGroupAdd                // routeGroup with add=
	routeGroupRemove             // routeGroup with remove= (and no add=)
	numRoutes
)

// endpoint is one row of the route table: what a kind of request is called,
// the permission it needs, and who serves it.
type endpoint struct {
	// name is the Endpoint constant given to Config.Observe and
	// Request.Endpoint.
	name string
	// op is the permission an Authorizer is asked for.
	op Operation
	// service is the service named in error bodies.
	service string
	// rules say what authorize checks and resolves before it asks.
	rules accessRules
	// serve answers the request once its sub key, signature and parameters
	// are checked, and returns the status written. Nil for routeNone.
	serve func(h *Handler, w http.ResponseWriter, r *http.Request, s *scratch) int
	// bare: served without a sub key, signature or Authorizer (/time/0).
	bare bool
}

// accessRules say what a call's Authorizer request is made of.
type accessRules uint8

const (
	// namesUUID: the call acts for a uuid, which must be valid, and, if it
	// is a presence call, on at least one channel or group.
	namesUUID accessRules = 1 << iota
	// expandsGroups: a presence call, acting on the channels of its groups
	// as they are now. The Authorizer sees them, and the call acts on
	// exactly those (engine.Expansion).
	expandsGroups
)

// endpoints is the route table, indexed by routeKind.
var endpoints = [numRoutes]endpoint{
	routeNone:          {name: EndpointNotFound, service: servicePresence},
	routeTime:          {name: EndpointTime, service: servicePresence, serve: (*Handler).time, bare: true},
	routeHereNowGlobal: {name: EndpointHereNowGlobal, op: OpRead, service: servicePresence, rules: expandsGroups, serve: rest((*Handler).hereNow)},
	routeHereNow:       {name: EndpointHereNow, op: OpRead, service: servicePresence, rules: expandsGroups, serve: rest((*Handler).hereNow)},
	routeHeartbeat:     {name: EndpointHeartbeat, op: OpRead, service: servicePresence, rules: namesUUID | expandsGroups, serve: rest((*Handler).heartbeat)},
	routeLeave:         {name: EndpointLeave, op: OpNone, service: servicePresence, rules: namesUUID | expandsGroups, serve: rest((*Handler).leave)},
	routeGetState:      {name: EndpointGetState, op: OpRead, service: servicePresence, rules: namesUUID | expandsGroups, serve: rest((*Handler).getState)},
	routeSetState:      {name: EndpointSetState, op: OpRead, service: servicePresence, rules: namesUUID | expandsGroups, serve: rest((*Handler).setState)},
	routeWhereNow:      {name: EndpointWhereNow, op: OpNone, service: servicePresence, rules: namesUUID, serve: rest((*Handler).whereNow)},
	routeGroups:        {name: EndpointGroupListGroups, op: OpManage, service: serviceRegistry, serve: rest((*Handler).listGroups)},
	routeGroup:         {name: EndpointGroupList, op: OpRead, service: serviceRegistry, serve: rest((*Handler).listGroup)},
	routeGroupAdd:      {name: EndpointGroupAdd, op: OpManage, service: serviceRegistry, serve: rest((*Handler).changeGroup)},
	routeGroupRemove:   {name: EndpointGroupRemove, op: OpManage, service: serviceRegistry, serve: rest((*Handler).changeGroup)},
	routeGroupDelete:   {name: EndpointGroupDelete, op: OpManage, service: serviceRegistry, serve: rest((*Handler).deleteGroup)},
	routeSubscribe:     {name: EndpointSubscribe, op: OpRead, service: servicePresence, serve: (*Handler).subscribe},
}

// rest adapts an endpoint that answers 200 itself or returns an error to
// the table's form: the error is answered by fail.
func rest(fn func(h *Handler, w http.ResponseWriter, r *http.Request, s *scratch) error) func(*Handler, http.ResponseWriter, *http.Request, *scratch) int {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, s *scratch) int {
		if err := fn(h, w, r, s); err != nil {
			return h.fail(w, r, s, err)
		}
		return http.StatusOK
	}
}

// refine tells the calls of a channel group's path apart by their
// parameters: add= adds, remove= removes, neither lists.
func refine(k routeKind, q *query) routeKind {
	if k == routeGroup {
		switch {
		case q.has&pAdd != 0:
			return routeGroupAdd
		case q.has&pRemove != 0:
			return routeGroupRemove
		}
	}
	return k
}

// route is a matched path. Its strings are segments of the escaped path,
// still escaped: a channel list is split on "," before its names are
// unescaped, so that "%2C" stays inside a name.
type route struct {
	kind     routeKind
	subKey   string
	channels string // the {chs} segment
	uuid     string
	group    string
	callback string // the {callback|0} segment of /time and /v2/subscribe
}

// maxSegments is the most path segments of any route.
const maxSegments = 9

// match routes an escaped path. It does not allocate: the route's strings
// are substrings of path.
func match(path string) route {
	var seg [maxSegments]string
	n := split(path, &seg)
	if n < 2 {
		return route{}
	}
	switch seg[0] {
	case "time":
		if n == 2 && seg[1] != "" {
			return route{kind: routeTime, callback: seg[1]}
		}
	case "v2":
		if seg[1] == "presence" && n >= 4 && isSubKeyWord(seg[2]) {
			return matchPresence(seg[3:n])
		}
		if seg[1] == "subscribe" && n == 5 && seg[4] != "" {
			return route{kind: routeSubscribe, subKey: seg[2], channels: seg[3], callback: seg[4]}
		}
	case "v1":
		if seg[1] == "channel-registration" && n >= 5 && isSubKeyWord(seg[2]) && seg[4] == "channel-group" {
			rt := route{subKey: seg[3]}
			switch n {
			case 5:
				rt.kind = routeGroups
			case 6:
				rt.kind, rt.group = routeGroup, seg[5]
			case 7:
				if seg[6] == "remove" {
					rt.kind, rt.group = routeGroupDelete, seg[5]
				}
			}
			return rt
		}
	}
	return route{}
}

// matchPresence routes the segments after /v2/presence/sub-key: the sub key
// and what follows it.
func matchPresence(seg []string) route {
	rt := route{subKey: seg[0]}
	switch {
	case len(seg) == 1:
		rt.kind = routeHereNowGlobal
	case seg[1] == "uuid" && len(seg) == 3:
		rt.kind, rt.uuid = routeWhereNow, seg[2]
	case seg[1] == "channel" && len(seg) >= 3:
		rt.channels = seg[2]
		switch len(seg) {
		case 3:
			rt.kind = routeHereNow
		case 4:
			switch seg[3] {
			case "heartbeat":
				rt.kind = routeHeartbeat
			case "leave":
				rt.kind = routeLeave
			}
		case 5:
			if seg[3] == "uuid" {
				rt.kind, rt.uuid = routeGetState, seg[4]
			}
		case 6:
			if seg[3] == "uuid" && seg[5] == "data" {
				rt.kind, rt.uuid = routeSetState, seg[4]
			}
		}
	}
	return rt
}

// isSubKeyWord accepts both spellings SDKs use before the sub key.
func isSubKeyWord(s string) bool { return s == "sub-key" || s == "sub_key" }

// split cuts path, which must start with "/", into its segments; it returns
// their number, or -1 if there are more than maxSegments or path is not
// absolute.
func split(path string, seg *[maxSegments]string) int {
	if len(path) == 0 || path[0] != '/' {
		return -1
	}
	rest := path[1:]
	for n := 0; n < maxSegments; n++ {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			seg[n] = rest
			return n + 1
		}
		seg[n], rest = rest[:i], rest[i+1:]
	}
	return -1
}

// requestPath returns the path of r as the client sent it: the request
// target's path, when the target is a path (as every PubNub client sends
// it), read from r.RequestURI without re-escaping r.URL.Path, which costs a
// pass over every byte; otherwise, and for a request built by hand, the
// escaped path of r.URL.
func requestPath(r *http.Request) string {
	if t := r.RequestURI; len(t) > 0 && t[0] == '/' {
		if i := strings.IndexByte(t, '?'); i >= 0 {
			return t[:i]
		}
		return t
	}
	return escapedPath(r.URL)
}

// escapedPath returns the path of u as the client sent it. When the sent form
// differs from the default encoding of u.Path, net/http keeps it in RawPath;
// otherwise the default encoding is the sent form.
func escapedPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.EscapedPath()
}
