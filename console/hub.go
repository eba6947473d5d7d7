package console

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// Bounds of what the hub keeps.
const (
	// subBuffer is the buffer of the hub's subscription to every event.
	// With DropOldest, a console that falls behind never slows the service
	// down; it counts what it missed.
	subBuffer = 8192
	// tailLen is how many recent events are kept per sub key, for a page
	// that opens (or switches sub key) to start its tail with.
	tailLen = 100
	// maxTails and maxSeries bound the sub keys with a tail and a chart.
	maxTails  = 64
	maxSeries = 256
	// maxCounted bounds the sub keys whose events are counted per sample.
	maxCounted = 4096
	// maxTailState is the largest state kept with an event of the tail;
	// a larger one is left out and its size given instead.
	maxTailState = 1 << 10
	// maxListed is the most uuids an interval event of the tail lists per
	// kind (join, leave, timeout).
	maxListed = 20
	// costFactor is how many times its own duration the console waits
	// between two reads of a kind: at most about 1/costFactor of a core goes
	// to sampling, and as much to each kind of page refresh.
	costFactor = 20
)

// hub watches the service's events and samples its totals while pages are
// open, and for Config.Linger after the last has gone. It keeps, per sub
// key, a recent tail of events and the chart's points, and hands new events
// and samples to the open streams.
//
// Lock order: hub.mu, then a stream's mu, then the source's mu.
type hub struct {
	c *Console

	mu      sync.Mutex
	closed  bool
	streams map[*stream]struct{}
	run     *run        // nil while nobody watches
	linger  *time.Timer // set while the last stream has gone and run lingers
	wg      sync.WaitGroup

	// What a run gathers; under mu, reset when a run starts.
	series  map[string]*series
	tails   map[string]*tail
	counts  map[string]int // events per sub key since the last sample
	other   int            // events of sub keys past maxCounted
	sample  sampleJSON     // the last sample, without the sub key's own point
	version uint64         // samples taken by this run
	missed  uint64         // events this run's subscription dropped
	period  time.Duration  // the sampling period in force
}

// run is one stretch of watching: a subscription and the goroutines that
// read it and sample.
type run struct {
	sub  *events.Subscription // nil if the service refused one
	stop chan struct{}
}

func newHub(c *Console) *hub {
	return &hub{c: c, streams: make(map[*stream]struct{})}
}

// join registers s, starting a run if none is going. It returns false when
// the console is closed or MaxStreams streams are open.
func (h *hub) join(s *stream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.streams) >= h.c.cfg.MaxStreams {
		return false
	}
	h.c.streams.Add(1)
	h.streams[s] = struct{}{}
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	if h.run == nil {
		h.start()
	}
	return true
}

// leave unregisters s; the last one to leave arms the linger.
func (h *hub) leave(s *stream) {
	h.mu.Lock()
	delete(h.streams, s)
	if len(h.streams) == 0 && h.run != nil && !h.closed {
		r := h.run
		if h.c.cfg.Linger < 0 {
			h.stopLocked()
		} else {
			h.linger = time.AfterFunc(h.c.cfg.Linger, func() { h.stopIdle(r) })
		}
	}
	h.mu.Unlock()
	h.c.streams.Done()
}

// stopIdle ends run r if it is still the one going and nobody has come.
func (h *hub) stopIdle(r *run) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run == r && len(h.streams) == 0 {
		h.stopLocked()
	}
}

// start begins a run. Under mu.
func (h *hub) start() {
	r := &run{stop: make(chan struct{})}
	h.run = r
	h.series = make(map[string]*series)
	h.tails = make(map[string]*tail)
	h.counts = make(map[string]int)
	h.other, h.version, h.missed = 0, 0, 0
	h.sample = sampleJSON{SubKeys: []subKeyJSON{}}
	h.period = h.c.cfg.SamplePeriod
	sub, err := h.c.src.p.Subscribe(events.Filter{}, events.Options{Buffer: subBuffer, Policy: events.DropOldest})
	if err != nil {
		h.c.cfg.Logger.Warn("console: cannot watch events; the tail and events per second stay empty", "err", err)
	} else {
		r.sub = sub
		h.wg.Add(1)
		go h.read(r)
	}
	h.wg.Add(1)
	go h.sampleLoop(r)
}

// stopLocked ends the run. Under mu; its goroutines exit on their own.
func (h *hub) stopLocked() {
	r := h.run
	h.run = nil
	h.series, h.tails, h.counts = nil, nil, nil
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	close(r.stop)
	if r.sub != nil {
		r.sub.Close() // closes Events: read returns
	}
}

// close stops the hub for good and waits for its goroutines. The streams
// are gone already (Console.Close waits for them first).
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	if h.run != nil {
		h.stopLocked()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// markClosed refuses new streams from now on.
func (h *hub) markClosed() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

// read takes in the events of run r until its subscription closes.
func (h *hub) read(r *run) {
	defer h.wg.Done()
	for ev := range r.sub.Events() {
		h.c.src.saw(ev.SubKey)
		kept := keep(ev)
		h.mu.Lock()
		if h.run == r {
			h.record(kept)
		}
		h.mu.Unlock()
	}
}

// record counts an event, adds it to its sub key's tail and hands it to the
// streams watching that sub key. Under mu.
func (h *hub) record(ev tailEvent) {
	h.missed += ev.Gap
	if _, ok := h.counts[ev.subKey]; ok || len(h.counts) < maxCounted {
		h.counts[ev.subKey]++
	} else {
		h.other++
	}
	t := h.tails[ev.subKey]
	if t == nil && len(h.tails) < maxTails {
		t = &tail{}
		h.tails[ev.subKey] = t
	}
	if t != nil {
		t.add(ev)
	}
	for s := range h.streams {
		if s.subKey == ev.subKey {
			s.push(ev)
		}
	}
}

// sampleLoop reads the totals of every sub key now, then once a period, or
// less often when a read is slow, until run r stops.
func (h *hub) sampleLoop(r *run) {
	defer h.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	last := time.Now()
	var failing string // the error of the last read, logged once until it changes
	for {
		select {
		case <-r.stop:
			return
		case <-timer.C:
		}
		start := time.Now()
		stats, err := h.c.src.subKeys()
		cost := time.Since(start)
		switch {
		case err != nil && err.Error() != failing:
			failing = err.Error()
			h.c.cfg.Logger.Warn("console: reading totals failed", "err", err)
		case err == nil:
			failing = ""
		}
		elapsed := start.Sub(last)
		last = start
		h.mu.Lock()
		if h.run == r && err == nil {
			h.period = max(h.c.cfg.SamplePeriod, costFactor*cost)
			h.take(stats, elapsed)
		}
		h.mu.Unlock()
		timer.Reset(max(h.c.cfg.SamplePeriod, costFactor*cost))
	}
}

// take records a sample: the totals of every sub key and its events per
// second since the last one, elapsed ago. Under mu.
func (h *hub) take(stats []engine.SubKeyStats, elapsed time.Duration) {
	now := h.c.cfg.Now()
	h.version++
	perSecond := func(n int) float64 {
		if elapsed <= 0 {
			return 0
		}
		return float64(n) / elapsed.Seconds()
	}
	seen := make(map[string]bool, len(stats))
	for _, s := range stats {
		seen[s.SubKey] = true
		h.point(s.SubKey, point{TMS: now.UnixMilli(), Members: s.Members, Channels: s.Channels, UUIDs: uuidsOrNil(s.UUIDs), EventsPerS: perSecond(h.counts[s.SubKey])})
	}
	for sk, n := range h.counts { // events of a sub key that holds nothing now
		if !seen[sk] {
			seen[sk] = true
			h.point(sk, point{TMS: now.UnixMilli(), EventsPerS: perSecond(n)})
		}
	}
	for sk, se := range h.series { // a sub key gone quiet: zeros, then forgotten
		if !seen[sk] {
			if se.idle() {
				delete(h.series, sk)
				continue
			}
			h.point(sk, point{TMS: now.UnixMilli()})
		}
	}
	clear(h.counts)
	h.other = 0

	sorted := append([]engine.SubKeyStats(nil), stats...)
	sortByMembers(sorted)
	h.sample = sampleJSON{
		TMS: now.UnixMilli(), SampleMS: h.period.Milliseconds(), Missed: h.missed,
		Total: len(sorted), SubKeys: make([]subKeyJSON, 0, min(len(sorted), maxSubKeys)),
	}
	for _, s := range sorted[:min(len(sorted), maxSubKeys)] {
		h.sample.SubKeys = append(h.sample.SubKeys, subKeyOf(s))
	}
	for s := range h.streams {
		s.poke()
	}
}

// point appends p to the chart of sub key sk. Under mu.
func (h *hub) point(sk string, p point) {
	se := h.series[sk]
	if se == nil {
		if len(h.series) >= maxSeries {
			return
		}
		se = &series{max: int(h.c.cfg.History / h.c.cfg.SamplePeriod)}
		h.series[sk] = se
	}
	se.add(p, p.TMS-h.c.cfg.History.Milliseconds())
}

// snapshot is what a stream starts with: the chart of its sub key, the
// tail after the timetoken since, and the last sample.
func (h *hub) snapshot(sk string, since int64) (pts []point, tail []tailEvent, s sampleJSON, version uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if se := h.series[sk]; se != nil {
		pts = append(pts, se.points...)
	}
	if t := h.tails[sk]; t != nil {
		tail = t.since(since)
	}
	return pts, tail, h.sampleFor(sk), h.version
}

// sampleFor is the last sample with sub key sk's own point. Under mu.
func (h *hub) sampleFor(sk string) sampleJSON {
	s := h.sample
	if se := h.series[sk]; se != nil && len(se.points) > 0 {
		p := se.points[len(se.points)-1]
		s.Point = &p
	}
	s.SubKey = sk
	return s
}

// latest returns the last sample for sk and its version.
func (h *hub) latest(sk string) (sampleJSON, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sampleFor(sk), h.version
}

// watchers is the number of open streams.
func (h *hub) watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// point is one sample of one sub key: its totals and its events per second.
type point struct {
	TMS        int64   `json:"t_ms"`
	Members    int     `json:"members"`
	Channels   int     `json:"channels"`
	UUIDs      *int    `json:"uuids"` // null when the service does not count them
	EventsPerS float64 `json:"events_per_s"`
}

func uuidsOrNil(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

// sampleJSON is a sample as a stream sends it.
type sampleJSON struct {
	TMS      int64        `json:"t_ms"`
	SubKey   string       `json:"sub_key"`
	Point    *point       `json:"point"` // the sub key's own; null before it has one
	SampleMS int64        `json:"sample_ms"`
	Missed   uint64       `json:"missed"` // events the console could not keep up with
	Total    int          `json:"total"`  // sub keys
	SubKeys  []subKeyJSON `json:"sub_keys"`
}

// series is the chart of one sub key: points over the last History.
type series struct {
	points []point
	max    int
}

// add appends p and drops points before oldest (ms) or past max.
func (s *series) add(p point, oldest int64) {
	s.points = append(s.points, p)
	drop := 0
	for drop < len(s.points) && (s.points[drop].TMS < oldest || len(s.points)-drop > s.max) {
		drop++
	}
	if drop > 0 {
		s.points = append(s.points[:0], s.points[drop:]...)
	}
}

// idle reports whether nothing happened in the whole chart.
func (s *series) idle() bool {
	for _, p := range s.points {
		if p.Members != 0 || p.EventsPerS != 0 {
			return false
		}
	}
	return true
}

// tail is the recent events of one sub key, oldest first.
type tail struct {
	evs []tailEvent
}

func (t *tail) add(ev tailEvent) {
	if len(t.evs) == tailLen {
		copy(t.evs, t.evs[1:])
		t.evs = t.evs[:tailLen-1]
	}
	t.evs = append(t.evs, ev)
}

// since returns the events after timetoken tt, oldest first.
func (t *tail) since(tt int64) []tailEvent {
	var out []tailEvent
	for _, ev := range t.evs {
		if ev.tt > tt {
			out = append(out, ev)
		}
	}
	return out
}

// tailEvent is an event as the console shows it: a state over
// maxTailState is left out (its size is given), and an interval event
// lists at most maxListed uuids of each kind (More counts the rest).
type tailEvent struct {
	TT             string          `json:"tt"`
	TMS            int64           `json:"t_ms"`
	Action         events.Action   `json:"action"`
	Channel        string          `json:"channel"`
	UUID           string          `json:"uuid,omitempty"`
	Occupancy      int             `json:"occupancy"`
	State          json.RawMessage `json:"state,omitempty"`
	StateBytes     int             `json:"state_bytes,omitempty"`
	Join           []string        `json:"join,omitempty"`
	Leave          []string        `json:"leave,omitempty"`
	Timeout        []string        `json:"timeout,omitempty"`
	More           int             `json:"more,omitempty"`
	HereNowRefresh bool            `json:"here_now_refresh,omitempty"`
	// Gap is how many events the console missed just before this one.
	Gap uint64 `json:"gap,omitempty"`

	subKey string
	tt     int64
}

// keep makes the tail's copy of ev, sharing nothing large with it.
func keep(ev events.Event) tailEvent {
	t := tailEvent{
		TT: ev.TimetokenString(), TMS: ev.Time.UnixMilli(), Action: ev.Action,
		Channel: ev.Channel, UUID: ev.UUID, Occupancy: ev.Occupancy,
		HereNowRefresh: ev.HereNowRefresh, Gap: ev.Dropped,
		subKey: ev.SubKey, tt: ev.Timetoken,
	}
	if len(ev.State) > maxTailState {
		t.StateBytes = len(ev.State)
	} else {
		t.State = ev.State // shared read-only with the bus; small
	}
	list := func(uuids []string) []string {
		if len(uuids) > maxListed {
			t.More += len(uuids) - maxListed
			uuids = uuids[:maxListed]
		}
		if len(uuids) == 0 {
			return nil
		}
		return append([]string(nil), uuids...)
	}
	t.Join, t.Leave, t.Timeout = list(ev.Joined), list(ev.Left), list(ev.TimedOut)
	return t
}
