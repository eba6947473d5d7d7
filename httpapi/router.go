package httpapi

import "net/url"

// routeKind identifies a path pattern.
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
	routeGroup                   // /v1/channel-registration/sub-key/{sk}/channel-group/{g}
	routeGroupDelete             // /v1/channel-registration/sub-key/{sk}/channel-group/{g}/remove
	routeSubscribe               // /v2/subscribe/{sk}/{chs}/{callback|0}
)

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
	n, start := 0, 1
	for i := 1; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if n == maxSegments {
				return -1
			}
			seg[n] = path[start:i]
			n++
			start = i + 1
		}
	}
	return n
}

// escapedPath returns the path of u as the client sent it. When the sent form
// differs from the default encoding of u.Path, net/http keeps it in RawPath;
// otherwise the default encoding is the sent form (and costs nothing when
// there is nothing to escape).
func escapedPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.EscapedPath()
}
