package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presence/engine"
)

// Bounds of the endpoints' parameters.
const (
	defaultPage  = 50
	maxPage      = 500 // channels and members per page; below engine.MaxTopChannels
	maxOffset    = 1 << 30
	maxFilter    = 92 // runes: the longest channel name
	maxSubKeys   = 100
	maxUUIDChans = 100 // channels whose state the uuid lookup lists
)

// errBadParam marks an error in a request's parameters: a 400.
var errBadParam = errors.New("bad parameter")

func badParam(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errBadParam, name, fmt.Sprintf(format, args...))
}

// params reads a request's query: the first value of each name.
type params url.Values

func (p params) get(name string) string { return url.Values(p).Get(name) }

func (p params) subKey() (string, error) {
	sk := p.get("sub_key")
	if sk == "" {
		return "", badParam("sub_key", "missing")
	}
	if err := validSubKey(sk); err != nil {
		return "", badParam("sub_key", "%v", err)
	}
	return sk, nil
}

func validSubKey(sk string) error { return engine.ValidateSubKey(sk) }

// intParam reads an optional integer within [lo, hi]; def when absent.
func (p params) intParam(name string, def, lo, hi int) (int, error) {
	v := p.get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badParam(name, "%q is not an integer", v)
	}
	if n < lo || n > hi {
		return 0, badParam(name, "%d is not within %d to %d", n, lo, hi)
	}
	return n, nil
}

// channelQuery is a page of a sub key's channels: the filter, the page size
// and the cursor.
type channelQuery struct {
	subKey, filter string
	limit          int
	after          *engine.ChannelCount
}

func (p params) channelQuery(subKey string) (channelQuery, error) {
	q := channelQuery{subKey: subKey, filter: p.get("filter")}
	if !utf8.ValidString(q.filter) {
		return q, badParam("filter", "not UTF-8")
	}
	if n := utf8.RuneCountInString(q.filter); n > maxFilter {
		return q, badParam("filter", "%d characters, at most %d", n, maxFilter)
	}
	var err error
	if q.limit, err = p.intParam("limit", defaultPage, 1, maxPage); err != nil {
		return q, err
	}
	if a := p.get("after"); a != "" {
		occ, name, ok := strings.Cut(a, ":")
		n, err := strconv.Atoi(occ)
		if !ok || err != nil || n < 0 {
			return q, badParam("after", "%q is not OCCUPANCY:CHANNEL (the next cursor of a page)", a)
		}
		if err := engine.ValidateChannel(name); err != nil {
			return q, badParam("after", "%v", err)
		}
		q.after = &engine.ChannelCount{Channel: name, Occupancy: n}
	}
	return q, nil
}

// memberQuery is a page of one channel's members.
type memberQuery struct {
	channel       string
	limit, offset int
}

// memberQuery reads channel, the page size (parameter limitName) and
// offset; required says whether the channel must be given (a stream may
// show no channel).
func (p params) memberQuery(required bool, limitName string) (memberQuery, error) {
	q := memberQuery{channel: p.get("channel")}
	if q.channel == "" {
		if required {
			return q, badParam("channel", "missing")
		}
	} else if err := engine.ValidateChannel(q.channel); err != nil {
		return q, badParam("channel", "%v", err)
	}
	var err error
	if q.limit, err = p.intParam(limitName, defaultPage, 1, maxPage); err != nil {
		return q, err
	}
	if q.offset, err = p.intParam("offset", 0, 0, maxOffset); err != nil {
		return q, err
	}
	return q, nil
}

// The JSON the endpoints answer.
type (
	subKeysJSON struct {
		NowMS   int64        `json:"now_ms"`
		SubKeys []subKeyJSON `json:"sub_keys"`
		Total   int          `json:"total"`
		UUIDs   bool         `json:"uuids_known"`
	}
	subKeyJSON struct {
		SubKey   string `json:"sub_key"`
		Channels int    `json:"channels"`
		Members  int    `json:"members"`
		UUIDs    *int   `json:"uuids"` // null when unknown
	}
	channelsJSON struct {
		SubKey   string        `json:"sub_key"`
		Filter   string        `json:"filter"`
		Channels []channelJSON `json:"channels"`
		Matched  int           `json:"matched"`
		Members  int           `json:"members"`
		// Next is the cursor of the next page ("after"), null on the last.
		Next *string `json:"next"`
	}
	channelJSON struct {
		Channel   string `json:"channel"`
		Occupancy int    `json:"occupancy"`
	}
	membersJSON struct {
		SubKey    string       `json:"sub_key"`
		Channel   string       `json:"channel"`
		Occupancy int          `json:"occupancy"`
		Offset    int          `json:"offset"`
		Members   []memberJSON `json:"members"`
		TimeLeft  bool         `json:"time_left"` // whether members carry time_left_ms
		NowMS     int64        `json:"now_ms"`
	}
	memberJSON struct {
		UUID       string          `json:"uuid"`
		State      json.RawMessage `json:"state,omitempty"`
		TimeLeftMS *int64          `json:"time_left_ms,omitempty"`
	}
	uuidJSON struct {
		SubKey   string         `json:"sub_key"`
		UUID     string         `json:"uuid"`
		Channels []uuidChanJSON `json:"channels"`
		Total    int            `json:"total"`
	}
	uuidChanJSON struct {
		Channel string          `json:"channel"`
		State   json.RawMessage `json:"state"`
	}
)

func (c *Console) serveSubKeys(w http.ResponseWriter, r *http.Request) {
	p := params(r.URL.Query())
	limit, err := p.intParam("limit", maxSubKeys, 1, 1000)
	if err != nil {
		writeErr(w, err)
		return
	}
	body, err := c.subKeysPage(limit)
	if err != nil {
		c.serviceError(w, "sub keys", err)
		return
	}
	writeJSON(w, body)
}

func (c *Console) subKeysPage(limit int) (subKeysJSON, error) {
	stats, err := c.src.subKeys()
	if err != nil {
		return subKeysJSON{}, err
	}
	return c.subKeysJSON(stats, limit), nil
}

// subKeysJSON lists the limit sub keys with the most members.
func (c *Console) subKeysJSON(stats []engine.SubKeyStats, limit int) subKeysJSON {
	sorted := append([]engine.SubKeyStats(nil), stats...)
	sortByMembers(sorted)
	out := subKeysJSON{NowMS: c.cfg.Now().UnixMilli(), Total: len(sorted), SubKeys: []subKeyJSON{}, UUIDs: c.src.uuidTotals()}
	for _, s := range sorted[:min(limit, len(sorted))] {
		out.SubKeys = append(out.SubKeys, subKeyOf(s))
	}
	return out
}

func subKeyOf(s engine.SubKeyStats) subKeyJSON {
	j := subKeyJSON{SubKey: s.SubKey, Channels: s.Channels, Members: s.Members}
	if s.UUIDs >= 0 {
		j.UUIDs = &s.UUIDs
	}
	return j
}

func (c *Console) serveChannels(w http.ResponseWriter, r *http.Request) {
	p := params(r.URL.Query())
	sk, err := p.subKey()
	if err != nil {
		writeErr(w, err)
		return
	}
	q, err := p.channelQuery(sk)
	if err != nil {
		writeErr(w, err)
		return
	}
	body, err := c.channels(q)
	if err != nil {
		c.serviceError(w, "channels", err)
		return
	}
	writeJSON(w, body)
}

// channels reads a page of channels. It asks for one more than the page to
// tell whether there is a next one.
func (c *Console) channels(q channelQuery) (channelsJSON, error) {
	res, err := c.src.topChannels(engine.TopChannelsRequest{SubKey: q.subKey, Match: q.filter, Limit: q.limit + 1, After: q.after})
	if err != nil {
		return channelsJSON{}, err
	}
	out := channelsJSON{SubKey: q.subKey, Filter: q.filter, Matched: res.Matched, Members: res.Members, Channels: []channelJSON{}}
	page := res.Channels
	if len(page) > q.limit {
		page = page[:q.limit]
		last := page[len(page)-1]
		next := strconv.Itoa(last.Occupancy) + ":" + last.Channel
		out.Next = &next
	}
	for _, ch := range page {
		out.Channels = append(out.Channels, channelJSON{Channel: ch.Channel, Occupancy: ch.Occupancy})
	}
	return out, nil
}

func (c *Console) serveMembers(w http.ResponseWriter, r *http.Request) {
	p := params(r.URL.Query())
	sk, err := p.subKey()
	if err != nil {
		writeErr(w, err)
		return
	}
	q, err := p.memberQuery(true, "limit")
	if err != nil {
		writeErr(w, err)
		return
	}
	body, err := c.members(sk, q)
	if err != nil {
		c.serviceError(w, "members", err)
		return
	}
	writeJSON(w, body)
}

func (c *Console) members(sk string, q memberQuery) (membersJSON, error) {
	cp, err := c.src.members(sk, q.channel, q.limit, q.offset)
	if err != nil {
		return membersJSON{}, err
	}
	out := membersJSON{
		SubKey: sk, Channel: q.channel, Occupancy: cp.Occupancy, Offset: q.offset,
		Members: make([]memberJSON, len(cp.Members)), TimeLeft: c.src.timeLeft(),
		NowMS: c.cfg.Now().UnixMilli(),
	}
	for i, m := range cp.Members {
		out.Members[i] = memberJSON{UUID: m.UUID, State: m.State}
		if out.TimeLeft {
			ms := m.TimeLeft.Milliseconds()
			out.Members[i].TimeLeftMS = &ms
		}
	}
	return out, nil
}

func (c *Console) serveUUID(w http.ResponseWriter, r *http.Request) {
	p := params(r.URL.Query())
	sk, err := p.subKey()
	if err != nil {
		writeErr(w, err)
		return
	}
	uuid := p.get("uuid")
	if uuid == "" {
		writeErr(w, badParam("uuid", "missing"))
		return
	}
	if err := engine.ValidateUUID(uuid); err != nil {
		writeErr(w, badParam("uuid", "%v", err))
		return
	}
	where, err := c.src.p.WhereNow(sk, uuid)
	if err != nil {
		c.serviceError(w, "where now", err)
		return
	}
	out := uuidJSON{SubKey: sk, UUID: uuid, Total: len(where), Channels: []uuidChanJSON{}}
	if len(where) > 0 {
		shown := where[:min(len(where), maxUUIDChans)]
		states, err := c.src.p.GetState(engine.GetStateRequest{SubKey: sk, UUID: uuid, Channels: shown})
		if err != nil {
			c.serviceError(w, "get state", err)
			return
		}
		for _, ch := range shown {
			if st, ok := states[ch]; ok { // it may have left meanwhile
				out.Channels = append(out.Channels, uuidChanJSON{Channel: ch, State: st})
			}
		}
	}
	writeJSON(w, out)
}

// serviceError answers a failed read of the service: 400 for what the
// engine calls bad input, 503 when it is closed or cannot reach its store,
// 500 otherwise.
func (c *Console) serviceError(w http.ResponseWriter, what string, err error) {
	switch {
	case isBadInput(err):
		writeError(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, engine.ErrClosed), errors.Is(err, engine.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "%s: %v", what, err)
	default:
		c.cfg.Logger.Error("console: read failed", "what", what, "err", err)
		writeError(w, http.StatusInternalServerError, "%s: internal error", what)
	}
}

func isBadInput(err error) bool {
	for _, e := range []error{engine.ErrInvalidSubKey, engine.ErrInvalidChannel, engine.ErrInvalidUUID, engine.ErrInvalidPaging, engine.ErrTooManyChannels} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// writeErr answers a parameter error with 400.
func writeErr(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "%v", err)
}

// writeError answers {"error": message} with status.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}{status, fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
