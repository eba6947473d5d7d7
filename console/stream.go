package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Timing of a stream.
const (
	// streamTick is how often a stream sends what came in: the events of
	// its sub key are on the page at most this long after they happened.
	streamTick = 250 * time.Millisecond
	// refreshMin and refreshMax bound the time between two reads of the
	// page's channels and members: after an event of the sub key, no sooner
	// than refreshMin (or costFactor times what the last read took, times
	// the streams open); without one, every refreshMax (or that).
	refreshMin = 250 * time.Millisecond
	refreshMax = 2 * time.Second
	// keepAlive is the longest a stream stays silent: a comment line keeps
	// proxies and the browser from taking it for dead.
	keepAlive = 15 * time.Second
	// writeWindow is the write deadline of each write of a stream, which
	// replaces the server's WriteTimeout for it.
	writeWindow = 30 * time.Second
	// maxPending bounds the events waiting for a stream's next send; past
	// it, events are counted as skipped (the page shows how many).
	maxPending = 500
)

// stream is one open page's event stream: the events of its sub key,
// handed over by the hub, wait here for the next send.
type stream struct {
	subKey string

	mu      sync.Mutex
	pending []tailEvent
	skipped int
	dirty   bool // an event came since the last refresh
	sampled bool // a sample was taken since the last send
}

// push hands the stream an event of its sub key. Under hub.mu.
func (s *stream) push(ev tailEvent) {
	s.mu.Lock()
	if len(s.pending) < maxPending {
		s.pending = append(s.pending, ev)
	} else {
		s.skipped++
	}
	s.dirty = true
	s.mu.Unlock()
}

// poke tells the stream a sample was taken. Under hub.mu.
func (s *stream) poke() {
	s.mu.Lock()
	s.sampled = true
	s.mu.Unlock()
}

// take returns and resets what came in since the last take.
func (s *stream) take() (evs []tailEvent, skipped int, dirty, sampled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, skipped, dirty, sampled = s.pending, s.skipped, s.dirty, s.sampled
	s.pending, s.skipped, s.dirty, s.sampled = nil, 0, false, false
	return evs, skipped, dirty, sampled
}

// The stream's messages: each is an SSE event whose data is one line of
// JSON.
type (
	helloJSON struct {
		NowMS     int64  `json:"now_ms"`
		SubKey    string `json:"sub_key"`
		TimeLeft  bool   `json:"time_left"`
		UUIDs     bool   `json:"uuids_known"`
		SampleMS  int64  `json:"sample_ms"`
		HistoryMS int64  `json:"history_ms"`
	}
	seriesJSON struct {
		SubKey string  `json:"sub_key"`
		Points []point `json:"points"`
	}
	eventsJSON struct {
		Events []tailEvent `json:"events"`
		// Skipped counts events left out because they came faster than a
		// page can show them.
		Skipped int `json:"skipped"`
	}
)

// serveStream serves GET api/stream: Server-Sent Events that keep one page
// live. Parameters: sub_key (required); filter, limit and after, the page
// of channels shown (as api/channels); channel, member_limit and offset, the
// page of members shown (as api/members), none without channel; since, the
// timetoken of the last event the page has (its tail resumes after it).
//
// Messages: hello (what the console can tell), series (the chart so far),
// sample (after each sample: the sub key's totals and the sub key list),
// events (new events of the sub key, at most every 250 ms), channels and
// members (the pages shown, re-read after events, and every 2 s), bye (the
// server is shutting down). A change of parameters is a new stream.
func (c *Console) serveStream(w http.ResponseWriter, r *http.Request) {
	p := params(r.URL.Query())
	sk, err := p.subKey()
	if err != nil {
		writeErr(w, err)
		return
	}
	cq, err := p.channelQuery(sk)
	if err != nil {
		writeErr(w, err)
		return
	}
	mq, err := p.memberQuery(false, "member_limit")
	if err != nil {
		writeErr(w, err)
		return
	}
	var since int64
	if v := p.get("since"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			writeErr(w, badParam("since", "%q is not a timetoken", v))
			return
		}
	}
	s := &stream{subKey: sk}
	if !c.hub.join(s) {
		if c.closed() {
			writeError(w, http.StatusServiceUnavailable, "the console is shutting down")
		} else {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "too many console pages open (at most %d)", c.cfg.MaxStreams)
		}
		return
	}
	defer c.hub.leave(s)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	out := &sse{w: w, rc: http.NewResponseController(w)}
	st := streamState{c: c, s: s, out: out, cq: cq, mq: mq}
	if err := st.open(since); err != nil {
		c.streamError(err)
		return
	}
	tick := time.NewTicker(streamTick)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.closing:
			_ = out.send("bye", struct{}{})
			_ = out.flush()
			return
		case <-tick.C:
			if err := st.step(); err != nil {
				c.streamError(err)
				return
			}
		}
	}
}

// streamError logs a stream that ended on an error other than its client
// going away.
func (c *Console) streamError(err error) {
	if !errors.Is(err, errWrite) {
		c.cfg.Logger.Warn("console: stream ended", "err", err)
	}
}

// streamState is the stream handler's own state.
type streamState struct {
	c   *Console
	s   *stream
	out *sse
	cq  channelQuery
	mq  memberQuery

	version      uint64    // of the last sample sent
	wantRefresh  bool      // an event came since the last refresh
	lastRefresh  time.Time // of channels and members
	refreshCost  time.Duration
	lastChannels []byte
}

// open sends what a page starts with.
func (st *streamState) open(since int64) error {
	c := st.c
	pts, tail, sample, version := c.hub.snapshot(st.s.subKey, since)
	st.version = version
	if pts == nil {
		pts = []point{}
	}
	msgs := []struct {
		name string
		v    any
	}{
		{"hello", helloJSON{
			NowMS: c.cfg.Now().UnixMilli(), SubKey: st.s.subKey, TimeLeft: c.src.timeLeft(), UUIDs: c.src.uuidTotals(),
			SampleMS: c.cfg.SamplePeriod.Milliseconds(), HistoryMS: c.cfg.History.Milliseconds(),
		}},
		{"series", seriesJSON{SubKey: st.s.subKey, Points: pts}},
		{"sample", sample},
	}
	for _, m := range msgs {
		if err := st.out.send(m.name, m.v); err != nil {
			return err
		}
	}
	if len(tail) > 0 {
		if err := st.out.send("events", eventsJSON{Events: tail}); err != nil {
			return err
		}
	}
	if err := st.refresh(); err != nil {
		return err
	}
	return st.out.flush()
}

// step sends what came in since the last step.
func (st *streamState) step() error {
	evs, skipped, dirty, sampled := st.s.take()
	if len(evs) > 0 || skipped > 0 {
		if evs == nil {
			evs = []tailEvent{}
		}
		if err := st.out.send("events", eventsJSON{Events: evs, Skipped: skipped}); err != nil {
			return err
		}
	}
	if sampled {
		sample, version := st.c.hub.latest(st.s.subKey)
		if version != st.version {
			st.version = version
			if err := st.out.send("sample", sample); err != nil {
				return err
			}
		}
	}
	// Each stream re-reads its pages no more often than costFactor times
	// the read, times the streams open: together they take about
	// 1/costFactor of a core at most.
	gap := costFactor * st.refreshCost * time.Duration(max(1, st.c.hub.watchers()))
	since := time.Since(st.lastRefresh)
	st.wantRefresh = st.wantRefresh || dirty
	if (st.wantRefresh && since >= max(refreshMin, gap)) || since >= max(refreshMax, gap) {
		st.wantRefresh = false
		if err := st.refresh(); err != nil {
			return err
		}
	}
	if st.out.wrote {
		return st.out.flush()
	}
	if time.Since(st.out.last) >= keepAlive {
		if err := st.out.comment("keep-alive"); err != nil {
			return err
		}
		return st.out.flush()
	}
	return nil
}

// refresh reads and sends the page's channels, if changed, and members.
func (st *streamState) refresh() error {
	start := time.Now()
	defer func() {
		st.lastRefresh = time.Now()
		st.refreshCost = st.lastRefresh.Sub(start)
	}()
	chans, err := st.c.channels(st.cq)
	if err != nil {
		return st.out.send("failure", failureJSON(err))
	}
	b, err := json.Marshal(chans)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, st.lastChannels) {
		st.lastChannels = b
		if err := st.out.sendRaw("channels", b); err != nil {
			return err
		}
	}
	if st.mq.channel == "" {
		return nil
	}
	members, err := st.c.members(st.s.subKey, st.mq)
	if err != nil {
		return st.out.send("failure", failureJSON(err))
	}
	return st.out.send("members", members)
}

// failureJSON is a read of the service that failed, as a stream reports it:
// the page shows it and the stream goes on.
func failureJSON(err error) any {
	return struct {
		Error string `json:"error"`
	}{err.Error()}
}

// errWrite marks a failed write to the client: it went away.
var errWrite = errors.New("console: stream write failed")

// sse writes Server-Sent Events.
type sse struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote bool      // since the last flush
	last  time.Time // of the last flush
	buf   []byte
}

func (o *sse) send(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return o.sendRaw(event, b)
}

// sendRaw writes one event whose data is b, JSON (which holds no newline).
func (o *sse) sendRaw(event string, b []byte) error {
	o.buf = append(o.buf[:0], "event: "...)
	o.buf = append(o.buf, event...)
	o.buf = append(o.buf, "\ndata: "...)
	o.buf = append(o.buf, b...)
	o.buf = append(o.buf, "\n\n"...)
	return o.write()
}

func (o *sse) comment(text string) error {
	o.buf = append(append(append(o.buf[:0], ": "...), text...), "\n\n"...)
	return o.write()
}

func (o *sse) write() error {
	// Each write gets its own deadline: a stream lives longer than the
	// server's WriteTimeout. A writer without deadlines is fine too.
	if err := o.rc.SetWriteDeadline(time.Now().Add(writeWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return errors.Join(errWrite, err)
	}
	if _, err := o.w.Write(o.buf); err != nil {
		return errors.Join(errWrite, err)
	}
	o.wrote = true
	return nil
}

func (o *sse) flush() error {
	o.wrote = false
	o.last = time.Now()
	if err := o.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return errors.Join(errWrite, err)
	}
	return nil
}
