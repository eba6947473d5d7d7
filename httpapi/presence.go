package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/presenced/presence/engine"
)

// names splits the path's channel list and the channel-group parameter.
func names(s *scratch) (chs, groups []string, err error) {
	if chs, err = splitPathNames(s.rt.channels, "channel", s.chans[:0]); err != nil {
		return nil, nil, err
	}
	return chs, splitQueryNames(s.q.groups, s.groups[:0]), nil
}

// heartbeat: /v2/presence/sub-key/{sk}/channel/{chs}/heartbeat.
func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request, s *scratch) error {
	chs, groups, err := names(s)
	if err != nil {
		return err
	}
	timeout, err := heartbeatTimeout(s.q.heartbeat)
	if err != nil {
		return err
	}
	var state map[string]json.RawMessage
	if s.q.state != "" {
		if state, err = heartbeatStates(s.q.state, chs, groups, h.presentOn(s.sk, s.q.uuid)); err != nil {
			return err
		}
	}
	if err := h.authorize(r.Context(), s, access{uuid: s.q.uuid, chans: chs, groups: groups}); err != nil {
		return err
	}
	_, err = h.p.Heartbeat(r.Context(), engine.HeartbeatRequest{
		SubKey:   s.sk,
		UUID:     s.q.uuid,
		Channels: chs,
		Groups:   groups,
		Timeout:  timeout,
		State:    state,
		Expanded: s.exp,
	})
	if err != nil {
		return err
	}
	writeFixed(w, http.StatusOK, bodyOK, hdrLenOK, s.cb)
	return nil
}

// maxHeartbeat caps the heartbeat parameter before it becomes a Duration;
// the engine clamps it much lower.
const maxHeartbeat = 1 << 30

// heartbeatTimeout reads the heartbeat parameter: a non-negative integer of
// seconds. Absent, empty or 0 means the engine's default timeout (0 is what
// the Go SDK v4 sends with its default configuration, and PubNub accepts
// it).
func heartbeatTimeout(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, ok := atoi(v, maxHeartbeat)
	if !ok {
		return 0, badRequest(fmt.Sprintf("Invalid heartbeat: %q is not a non-negative integer", v))
	}
	return time.Duration(n) * time.Second, nil
}

// atoi parses a non-negative decimal integer, saturating at max.
func atoi(v string, max int) (int, bool) {
	if v == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < max {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, max), true
}

// heartbeatStates reads the state parameter of a heartbeat, or of a
// subscribe call's implicit heartbeat, on channels chs and groups groups.
// It is a JSON object, in one of two forms:
//
//   - keyed: some root key names a channel or group of the call. Each value
//     is that name's state; the names the call does not heartbeat are
//     dropped, and keep the state they have (the JavaScript SDK sends the
//     state of every channel it has set state on with each heartbeat).
//   - keyed by other channels: no root key names a channel or group of the
//     call, but one whose value is an object names a channel the uuid is on
//     (present(name) reports it). Nothing is set: the JavaScript SDK's event
//     engine sends the state it holds for channel a with its heartbeats of
//     channel b.
//   - unkeyed: otherwise. The whole object is the state of every channel and
//     group the call names. The JavaScript SDK 12's setState({channels,
//     state, withHeartbeat: true}) sends its state this way.
//
// An empty object, {}, names nothing and sets nothing (the JavaScript SDK
// sends it with every heartbeat when it holds no state), and null is no
// state (the Go SDK sends it when it has none). The engine checks the
// values. The result maps each name to a slice of v: callers keep v alive
// while they use it.
func heartbeatStates(v string, chs, groups []string, present func(channel string) bool) (map[string]json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(v))
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, badRequest("Invalid state: not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, badRequest("Invalid state: " + jsonDetail(err))
	}
	if len(m) == 0 {
		return nil, nil
	}
	for name := range m {
		if contains(chs, name) || contains(groups, name) {
			dropOtherStates(m, chs, groups)
			return m, nil
		}
	}
	for name, val := range m {
		if st := bytes.TrimSpace(val); len(st) > 0 && st[0] == '{' && present(name) {
			return nil, nil
		}
	}
	whole := json.RawMessage(b)
	clear(m)
	for _, name := range chs {
		m[name] = whole
	}
	for _, name := range groups {
		m[name] = whole
	}
	return m, nil
}

// presentOn returns a function that reports whether uuid is present on a
// channel of subKey, asking the Presence implementation once, on first use.
func (h *Handler) presentOn(subKey, uuid string) func(string) bool {
	var where []string
	asked := false
	return func(ch string) bool {
		if !asked {
			asked = true
			where, _ = h.p.WhereNow(subKey, uuid) // an error leaves it empty: unkeyed
		}
		_, found := slices.BinarySearch(where, ch)
		return found
	}
}

// dropOtherStates drops the state of names the call does not heartbeat.
func dropOtherStates(state map[string]json.RawMessage, chs, groups []string) {
	for name := range state {
		if !contains(chs, name) && !contains(groups, name) {
			delete(state, name)
		}
	}
}

// jsonDetail words a JSON decoding error without Go's type names.
func jsonDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return "not a JSON object of JSON objects"
}

// leave: /v2/presence/sub-key/{sk}/channel/{chs}/leave.
func (h *Handler) leave(w http.ResponseWriter, r *http.Request, s *scratch) error {
	chs, groups, err := names(s)
	if err != nil {
		return err
	}
	if err := h.authorize(r.Context(), s, access{uuid: s.q.uuid, chans: chs, groups: groups}); err != nil {
		return err
	}
	_, err = h.p.Leave(r.Context(), engine.LeaveRequest{SubKey: s.sk, UUID: s.q.uuid, Channels: chs, Groups: groups, Expanded: s.exp})
	if err != nil {
		return err
	}
	writeFixed(w, http.StatusOK, bodyLeave, hdrLenLeave, s.cb)
	return nil
}

// hereNowLimit is the most uuids listed per channel.
const hereNowLimit = engine.DefaultHereNowLimit

// hereNow: /v2/presence/sub-key/{sk}/channel/{chs} and, global,
// /v2/presence/sub-key/{sk}.
func (h *Handler) hereNow(w http.ResponseWriter, r *http.Request, s *scratch) error {
	global := s.rt.kind == routeHereNowGlobal
	var chs, groups []string
	if !global {
		var err error
		if chs, groups, err = names(s); err != nil {
			return err
		}
		if len(chs) == 0 && len(groups) == 0 {
			return engine.ErrNoChannels
		}
	}
	q := &s.q
	listUUIDs := !isTrue(q.disableUUIDs) && (q.has&pUUIDs == 0 || isTrue(q.uuids))
	withState := listUUIDs && isTrue(q.state)
	limit, offset := 0, 0
	if q.limit != "" {
		n, ok := atoi(q.limit, hereNowLimit+1)
		if !ok || n > hereNowLimit {
			return badRequest(fmt.Sprintf("Invalid limit: %q is not an integer from 0 to %d", q.limit, hereNowLimit))
		}
		limit = n
		if n == 0 {
			limit = -1 // counts only
		}
	}
	if q.offset != "" {
		n, ok := atoi(q.offset, 1<<31-1)
		if !ok {
			return badRequest(fmt.Sprintf("Invalid offset: %q is not a non-negative integer", q.offset))
		}
		offset = n
	}
	if err := h.authorize(r.Context(), s, access{chans: chs, groups: groups}); err != nil {
		return err
	}
	req := engine.HereNowRequest{
		SubKey:   s.sk,
		Channels: chs,
		Groups:   groups,
		UUIDs:    listUUIDs && limit >= 0,
		State:    withState && limit >= 0,
		Limit:    max(limit, 0),
		Offset:   offset,
		Expanded: s.exp,
	}
	res, err := h.p.HereNow(req)
	if err != nil {
		return err
	}

	b := append(s.buf[:0], `{"status":200,"message":"OK",`...)
	if !global && len(chs) == 1 && len(groups) == 0 {
		var cp engine.ChannelPresence
		if len(res.Channels) > 0 {
			cp = res.Channels[0]
		}
		b = append(b, `"service":"Presence",`...)
		b = appendOccupants(b, cp, listUUIDs, withState)
		b = append(b, '}')
	} else {
		b = append(b, `"payload":{"channels":{`...)
		for i, cp := range res.Channels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, cp.Channel)
			b = append(b, ':', '{')
			b = appendOccupants(b, cp, listUUIDs, withState)
			b = append(b, '}')
		}
		b = append(b, `},"total_channels":`...)
		b = strconv.AppendInt(b, int64(res.TotalChannels), 10)
		b = append(b, `,"total_occupancy":`...)
		b = strconv.AppendInt(b, int64(res.TotalOccupancy), 10)
		b = append(b, `},"service":"Presence"}`...)
	}
	s.buf = b
	writeBody(w, http.StatusOK, b, s.cb)
	return nil
}

// appendMembers appends a here-now uuid list: ["u1"], or with state
// [{"uuid":"u1","state":{...}}] ("state" left out when the member has none).
func appendMembers(b []byte, ms []engine.Member, withState bool) []byte {
	b = append(b, '[')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		if !withState {
			b = appendString(b, m.UUID)
			continue
		}
		b = append(b, `{"uuid":`...)
		b = appendString(b, m.UUID)
		if len(m.State) > 0 {
			b = append(b, `,"state":`...)
			b = append(b, m.State...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// whereNow: /v2/presence/sub-key/{sk}/uuid/{uuid}.
func (h *Handler) whereNow(w http.ResponseWriter, r *http.Request, s *scratch) error {
	uuid, err := unescapePathSegment(s.rt.uuid, "uuid")
	if err != nil {
		return err
	}
	if err := h.authorize(r.Context(), s, access{uuid: uuid}); err != nil {
		return err
	}
	chs, err := h.p.WhereNow(s.sk, uuid)
	if err != nil {
		return err
	}
	b := append(s.buf[:0], `{"status":200,"message":"OK","payload":{"channels":`...)
	b = appendStrings(b, chs, "")
	b = append(b, `},"service":"Presence"}`...)
	s.buf = b
	writeBody(w, http.StatusOK, b, s.cb)
	return nil
}

// getState: /v2/presence/sub-key/{sk}/channel/{chs}/uuid/{uuid}.
func (h *Handler) getState(w http.ResponseWriter, r *http.Request, s *scratch) error {
	chs, groups, err := names(s)
	if err != nil {
		return err
	}
	uuid, err := unescapePathSegment(s.rt.uuid, "uuid")
	if err != nil {
		return err
	}
	if err := h.authorize(r.Context(), s, access{uuid: uuid, chans: chs, groups: groups}); err != nil {
		return err
	}
	states, err := h.p.GetState(engine.GetStateRequest{SubKey: s.sk, UUID: uuid, Channels: chs, Groups: groups, Expanded: s.exp})
	if err != nil {
		return err
	}
	b := append(s.buf[:0], `{"status":200,"message":"OK","payload":`...)
	if len(chs) == 1 && len(groups) == 0 {
		b = appendState(b, states[chs[0]])
		b = append(b, `,"uuid":`...)
		b = appendString(b, uuid)
		b = append(b, `,"channel":`...)
		b = appendString(b, chs[0])
	} else {
		b = append(b, `{"channels":{`...)
		keys := make([]string, 0, len(states))
		for ch := range states {
			keys = append(keys, ch)
		}
		slices.Sort(keys)
		for i, ch := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, ch)
			b = append(b, ':')
			b = appendState(b, states[ch])
		}
		b = append(b, `}},"uuid":`...)
		b = appendString(b, uuid)
	}
	b = append(b, `,"service":"Presence"}`...)
	s.buf = b
	writeBody(w, http.StatusOK, b, s.cb)
	return nil
}

// appendState appends a state object, {} for none.
func appendState(b []byte, st json.RawMessage) []byte {
	if len(st) == 0 {
		return append(b, '{', '}')
	}
	return append(b, st...)
}

// setState: /v2/presence/sub-key/{sk}/channel/{chs}/uuid/{uuid}/data.
func (h *Handler) setState(w http.ResponseWriter, r *http.Request, s *scratch) error {
	chs, groups, err := names(s)
	if err != nil {
		return err
	}
	uuid, err := unescapePathSegment(s.rt.uuid, "uuid")
	if err != nil {
		return err
	}
	if s.q.state == "" {
		return errNoState
	}
	if err := h.authorize(r.Context(), s, access{uuid: uuid, chans: chs, groups: groups}); err != nil {
		return err
	}
	st, err := h.p.SetState(r.Context(), engine.SetStateRequest{
		SubKey:   s.sk,
		UUID:     uuid,
		Channels: chs,
		Groups:   groups,
		State:    json.RawMessage(s.q.state),
		Expanded: s.exp,
	})
	if err != nil {
		return err
	}
	b := append(s.buf[:0], `{"status":200,"message":"OK","payload":`...)
	b = appendState(b, st)
	b = append(b, `,"service":"Presence"}`...)
	s.buf = b
	writeBody(w, http.StatusOK, b, s.cb)
	return nil
}

// appendOccupants appends a channel's "uuids" (if listed) and "occupancy"
// fields, the part the one-channel and the several-channel answers share.
func appendOccupants(b []byte, cp engine.ChannelPresence, listUUIDs, withState bool) []byte {
	if listUUIDs {
		b = append(b, `"uuids":`...)
		b = appendMembers(b, cp.Members, withState)
		b = append(b, ',')
	}
	b = append(b, `"occupancy":`...)
	return strconv.AppendInt(b, int64(cp.Occupancy), 10)
}
