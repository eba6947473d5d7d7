package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presence/engine"
)

// Services named in response bodies.
const (
	servicePresence = "Presence"
	serviceRegistry = "channel-registry"
	serviceAccess   = "Access Manager"
)

// Header values, shared by every response. They are never modified; a
// header set to one of them allocates nothing.
var (
	hdrContentType = []string{`text/javascript; charset="UTF-8"`}
	hdrAnyOrigin   = []string{"*"}
	hdrMethods     = []string{"OPTIONS, GET, POST"}
	hdrNoCache     = []string{"no-cache"}
	hdrAllow       = []string{"OPTIONS, GET"}
	hdrMaxAge      = []string{"86400"}
	hdrRetryAfter  = []string{strconv.Itoa(capacityRetryAfter)}
	hdrRetryStore  = []string{strconv.Itoa(unavailableRetryAfter)}
	hdrZero        = []string{"0"}
)

// capacityRetryAfter is the Retry-After, in seconds, of a 503 answered
// because the engine is at Config.MaxMembers.
const capacityRetryAfter = 5

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 answered
// because the presence service could not reach its store
// (engine.ErrUnavailable).
const unavailableRetryAfter = 1

// Fixed bodies.
var (
	bodyOK    = []byte(`{"status":200,"message":"OK","service":"Presence"}`)
	bodyLeave = []byte(`{"status":200,"action":"leave","message":"OK","service":"Presence"}`)
	bodyRegOK = []byte(`{"status":200,"message":"OK","service":"channel-registry","error":false}`)

	hdrLenOK    = []string{strconv.Itoa(len(bodyOK))}
	hdrLenLeave = []string{strconv.Itoa(len(bodyLeave))}
	hdrLenRegOK = []string{strconv.Itoa(len(bodyRegOK))}
)

// setCommon sets the headers of every answer.
func setCommon(h http.Header) {
	h["Content-Type"] = hdrContentType
	h["Access-Control-Allow-Origin"] = hdrAnyOrigin
	h["Access-Control-Allow-Methods"] = hdrMethods
	h["Cache-Control"] = hdrNoCache
}

// writeFixed answers status with a constant body and its prepared
// Content-Length, unless a JSONP callback needs wrapping.
func writeFixed(w http.ResponseWriter, status int, body []byte, length []string, callback string) int {
	if callback != "" {
		return writeBody(w, status, body, callback)
	}
	h := w.Header()
	setCommon(h)
	h["Content-Length"] = length
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}

// writeBody answers status with body, wrapped as callback(body) for JSONP.
func writeBody(w http.ResponseWriter, status int, body []byte, callback string) int {
	h := w.Header()
	setCommon(h)
	n := len(body)
	if callback != "" {
		n += len(callback) + 2
	}
	h["Content-Length"] = []string{strconv.Itoa(n)}
	w.WriteHeader(status)
	if callback != "" {
		_, _ = io.WriteString(w, callback)
		_, _ = io.WriteString(w, "(")
		_, _ = w.Write(body)
		_, _ = io.WriteString(w, ")")
		return status
	}
	_, _ = w.Write(body)
	return status
}

// apiError is an answer other than 200.
type apiError struct {
	status  int
	message string
	service string // "" means the endpoint's
	denied  *Denied
	retry   []string // the Retry-After header, if any
}

func (e *apiError) Error() string { return strconv.Itoa(e.status) + " " + e.message }

func badRequest(msg string) error { return &apiError{status: http.StatusBadRequest, message: msg} }

var (
	errInvalidSubKey = &apiError{status: http.StatusBadRequest, message: "Invalid Subscribe Key"}
	errSignature     = &apiError{status: http.StatusForbidden, message: "Signature does not match", service: serviceAccess}
	errNoState       = &apiError{status: http.StatusBadRequest, message: "No state specified."}
	errUnavailable   = &apiError{status: http.StatusServiceUnavailable, message: "Service Unavailable"}
	errCapacity      = &apiError{status: http.StatusServiceUnavailable, message: "Service Unavailable", retry: hdrRetryAfter}
	errStoreDown     = &apiError{status: http.StatusServiceUnavailable, message: "Service Unavailable", retry: hdrRetryStore}
	errInternal      = &apiError{status: http.StatusInternalServerError, message: "Internal Server Error"}
	errGroupFull     = &apiError{status: http.StatusBadRequest, message: "Maximum channel group count exceeded."}
	errURITooLong    = &apiError{status: http.StatusRequestURITooLong, message: "Request URI Too Long", service: servicePresence}
	errMethod        = &apiError{status: http.StatusMethodNotAllowed, message: "Method Not Allowed", service: servicePresence}
)

// classify maps an error from parsing, the authorizer or the engine to its
// answer. internal reports an error that is not the client's doing (5xx),
// which the caller logs.
func classify(err error) (e *apiError, internal bool) {
	if errors.As(err, &e) {
		return e, e.status >= 500
	}
	if ie := (internalError{}); errors.As(err, &ie) {
		return errInternal, true
	}
	switch {
	case errors.Is(err, engine.ErrClosed):
		return errUnavailable, true
	case errors.Is(err, engine.ErrCapacity):
		return errCapacity, true
	case errors.Is(err, engine.ErrUnavailable):
		return errStoreDown, true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errUnavailable, true
	case errors.Is(err, engine.ErrInvalidSubKey):
		return errInvalidSubKey, false
	case errors.Is(err, engine.ErrGroupFull):
		return errGroupFull, false
	case errors.Is(err, engine.ErrNotPresent):
		return &apiError{status: http.StatusBadRequest,
			message: "You must be present in a channel to set state for it: " + detail(err, "presence: uuid not present: ")}, false
	case errors.Is(err, engine.ErrInvalidUUID),
		errors.Is(err, engine.ErrInvalidChannel),
		errors.Is(err, engine.ErrInvalidGroup),
		errors.Is(err, engine.ErrNoChannels),
		errors.Is(err, engine.ErrTooManyChannels),
		errors.Is(err, engine.ErrInvalidTimeout),
		errors.Is(err, engine.ErrInvalidState),
		errors.Is(err, engine.ErrStateTooLarge),
		errors.Is(err, engine.ErrInvalidPaging):
		return &apiError{status: http.StatusBadRequest, message: capitalize(detail(err, ""))}, false
	}
	return errInternal, true
}

// detail is an engine error's text without the engine's "presence: "
// prefixes, and without cut at its start.
func detail(err error, cut string) string {
	s := err.Error()
	s = strings.TrimPrefix(s, cut)
	return strings.ReplaceAll(s, "presence: ", "")
}

func capitalize(s string) string {
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// appendError appends the JSON body of e; service is the endpoint's.
func appendError(b []byte, e *apiError, service string) []byte {
	if e.service != "" {
		service = e.service
	}
	if e.denied != nil {
		b = append(b, `{"message":"Forbidden","payload":{"channels":`...)
		b = appendStrings(b, e.denied.Channels, "")
		if len(e.denied.Groups) > 0 {
			b = append(b, `,"channel-groups":`...)
			b = appendStrings(b, e.denied.Groups, ":")
		}
		b = append(b, `},"error":true,"service":"Access Manager","status":403}`...)
		return b
	}
	if service == serviceAccess {
		b = append(b, `{"message":`...)
		b = appendString(b, e.message)
		b = append(b, `,"error":true,"service":"Access Manager","status":`...)
		b = strconv.AppendInt(b, int64(e.status), 10)
		return append(b, '}')
	}
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"error":true,"message":`...)
	b = appendString(b, e.message)
	b = append(b, `,"service":`...)
	b = appendString(b, service)
	return append(b, '}')
}

// appendStrings appends a JSON array of strings, each prefixed by prefix.
func appendStrings(b []byte, ss []string, prefix string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		if prefix == "" {
			b = appendString(b, s)
		} else {
			b = appendString(b, prefix+s)
		}
	}
	return append(b, ']')
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped, so the output is also valid JavaScript
// (JSONP).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// validCallback reports whether cb is a plain JavaScript identifier path,
// such as "a.b_c$1": identifiers of ASCII letters, digits, "_" and "$", not
// starting with a digit, joined by ".". Anything else could inject script.
func validCallback(cb string) bool {
	if cb == "" || len(cb) > maxCallback {
		return false
	}
	start := true
	for i := 0; i < len(cb); i++ {
		c := cb[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == '$':
			start = false
		case '0' <= c && c <= '9':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return !start
}

// maxCallback bounds the length of a JSONP callback name.
const maxCallback = 256
