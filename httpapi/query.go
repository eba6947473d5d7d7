package httpapi

import (
	"fmt"
	"net/url"
	"strings"
)

// query holds the request parameters the handler reads, decoded. A parameter
// given twice keeps its first value, as url.Values.Get does.
type query struct {
	uuid, heartbeat, state, groups, auth, callback   string
	signature, timestamp, limit, offset, add, remove string
	disableUUIDs, uuids, tt                          string
	has                                              param
}

// param is a set of parameters, one bit each.
type param uint16

const (
	pUUID param = 1 << iota
	pHeartbeat
	pState
	pGroups
	pAuth
	pCallback
	pSignature
	pTimestamp
	pLimit
	pOffset
	pAdd
	pRemove
	pDisableUUIDs
	pUUIDs
	pTT
)

// parseQuery decodes the parameters of raw (a URL's RawQuery) that the
// handler reads into q; it ignores the others. It fails, naming the
// parameter, only on a bad percent-escape in a parameter it reads, and then
// still reads the others (the callback, say) and returns the first failure.
//
// The state parameter is read as raw JSON when its value starts with an
// unescaped "{" (the Go SDK sends it so): the value then runs to the end of
// the JSON object, "&" and "%" inside JSON strings included, and is taken
// byte for byte. Otherwise it is percent-decoded like any other value.
func parseQuery(raw string, q *query) error {
	var first error
	for raw != "" {
		key, val, rest, literal := nextParam(raw)
		raw = rest
		if strings.IndexByte(key, '%') >= 0 || strings.IndexByte(key, '+') >= 0 {
			k, err := url.QueryUnescape(key)
			if err != nil {
				continue // not a parameter we read
			}
			key = k
		}
		var dst *string
		var bit param
		switch key {
		case "uuid":
			dst, bit = &q.uuid, pUUID
		case "heartbeat":
			dst, bit = &q.heartbeat, pHeartbeat
		case "state":
			dst, bit = &q.state, pState
		case "channel-group":
			dst, bit = &q.groups, pGroups
		case "auth":
			dst, bit = &q.auth, pAuth
		case "callback":
			dst, bit = &q.callback, pCallback
		case "signature":
			dst, bit = &q.signature, pSignature
		case "timestamp":
			dst, bit = &q.timestamp, pTimestamp
		case "limit":
			dst, bit = &q.limit, pLimit
		case "offset":
			dst, bit = &q.offset, pOffset
		case "add":
			dst, bit = &q.add, pAdd
		case "remove":
			dst, bit = &q.remove, pRemove
		case "disable_uuids", "disable-uuids":
			dst, bit = &q.disableUUIDs, pDisableUUIDs
		case "uuids":
			dst, bit = &q.uuids, pUUIDs
		case "tt":
			dst, bit = &q.tt, pTT
		default:
			continue
		}
		if q.has&bit != 0 {
			continue
		}
		if !literal {
			v, err := url.QueryUnescape(val)
			if err != nil {
				if first == nil {
					first = badRequest(fmt.Sprintf("Invalid %s: %s", key, unescapeDetail(err)))
				}
				continue
			}
			val = v
		}
		*dst = val
		q.has |= bit
	}
	return first
}

// queryValues decodes every parameter of raw but signature, the way
// parseQuery does, for signature checks. ok is false if one cannot be
// decoded.
func queryValues(raw string) (vals url.Values, ok bool) {
	vals = make(url.Values)
	for raw != "" {
		key, val, rest, literal := nextParam(raw)
		raw = rest
		k, err := url.QueryUnescape(key)
		if err != nil {
			return nil, false
		}
		if !literal {
			if val, err = url.QueryUnescape(val); err != nil {
				return nil, false
			}
		}
		if k != "signature" {
			vals[k] = append(vals[k], val)
		}
	}
	return vals, true
}

// nextParam cuts the first key=value pair off raw. literal reports a state
// value taken as raw JSON (see parseQuery), which must not be decoded.
func nextParam(raw string) (key, val, rest string, literal bool) {
	end := strings.IndexByte(raw, '&')
	if end < 0 {
		end = len(raw)
	}
	pair := raw[:end]
	eq := strings.IndexByte(pair, '=')
	if eq < 0 {
		return pair, "", after(raw, end), false
	}
	key = pair[:eq]
	if key == "state" && eq+1 < len(raw) && raw[eq+1] == '{' {
		if n := jsonObjectLen(raw[eq+1:]); n > 0 {
			stop := eq + 1 + n
			if stop == len(raw) || raw[stop] == '&' {
				return key, raw[eq+1 : stop], after(raw, stop), true
			}
		}
	}
	return key, pair[eq+1:], after(raw, end), false
}

// after returns raw past the "&" at i, or "" if i is its end.
func after(raw string, i int) string {
	if i >= len(raw) {
		return ""
	}
	return raw[i+1:]
}

// jsonObjectLen returns the length of the JSON object s starts with, found by
// matching brackets outside strings, or -1 if it does not close. It does not
// validate the JSON; the state parser does.
func jsonObjectLen(s string) int {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// unescapeDetail words a url unescape error without repeating Go's prefix.
func unescapeDetail(err error) string {
	if e, ok := err.(url.EscapeError); ok {
		return fmt.Sprintf("bad percent-escape %q", string(e))
	}
	return err.Error()
}

// splitPathNames splits a comma-separated list of names from the escaped
// path, then unescapes each name, so "%2C" stays inside a name. A lone ","
// or an empty segment means no names. Empty names are kept: the engine rejects them, naming the
// parameter. dst is reused if it has room.
func splitPathNames(seg, param string, dst []string) ([]string, error) {
	if seg == "," || seg == "" { // "" is the Go SDK's way to say it
		return dst[:0], nil
	}
	dst = dst[:0]
	for {
		i := strings.IndexByte(seg, ',')
		name := seg
		if i >= 0 {
			name = seg[:i]
		}
		if strings.IndexByte(name, '%') >= 0 {
			n, err := url.PathUnescape(name)
			if err != nil {
				return nil, badRequest(fmt.Sprintf("Invalid %s: %s", param, unescapeDetail(err)))
			}
			name = n
		}
		dst = append(dst, name)
		if i < 0 {
			return dst, nil
		}
		seg = seg[i+1:]
	}
}

// splitQueryNames splits an already decoded comma-separated query value. An
// empty value or a lone "," means no names.
func splitQueryNames(v string, dst []string) []string {
	dst = dst[:0]
	if v == "" || v == "," {
		return dst
	}
	for {
		i := strings.IndexByte(v, ',')
		if i < 0 {
			return append(dst, v)
		}
		dst = append(dst, v[:i])
		v = v[i+1:]
	}
}

// unescapePathSegment unescapes one path segment that holds a single name.
func unescapePathSegment(seg, param string) (string, error) {
	if strings.IndexByte(seg, '%') < 0 {
		return seg, nil
	}
	s, err := url.PathUnescape(seg)
	if err != nil {
		return "", badRequest(fmt.Sprintf("Invalid %s: %s", param, unescapeDetail(err)))
	}
	return s, nil
}

// isTrue reads a boolean parameter: "1" or "true" (any case) is true.
func isTrue(v string) bool {
	return v == "1" || strings.EqualFold(v, "true")
}
