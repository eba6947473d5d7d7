package main

// Helpers of reliability_test.go: the load's settings and sizes, and a load
// client speaking PubNub's REST presence calls whose goroutines each own
// their uuids, so that each knows, from its own requests and their answer
// times, which of its memberships must be present and which must be gone at
// any moment. The long-poll client is in reliability_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Settings of the server under load: presence timeouts of 2 to 3 s and a
// 100 ms tick, so that members time out while the load runs, and long-polls
// held 1 s, so that those on a channel with nothing new come back empty.
const (
	loadSubKey         = "load"
	loadMinTimeout     = 2 * time.Second
	loadDefaultTimeout = 3 * time.Second
	loadTick           = 100 * time.Millisecond
	loadSubscribeHold  = time.Second
	// expirySlack is how long past its deadline plus one tick a member may
	// still be seen before the load test calls it a member that never timed
	// out. It bounds a failure, generously, and measures nothing: on the
	// real clock of a loaded, shared machine (the race detector slows every
	// goroutine, the expirer's too) any tighter figure is the machine's, not
	// the server's. The engine's tests check the one-tick bound in virtual
	// time.
	expirySlack = waitTimeout
	// pollBound bounds one long-poll: the server holds it for
	// loadSubscribeHold, then answers it even with nothing to deliver.
	pollBound = 30 * time.Second
	// maxProblems is how many problems a tally keeps verbatim.
	maxProblems = 20
)

// loadServerArgs are the flags of the server the load runs against.
// Announce mode always, so that every join, leave and timeout is an event
// the long-polls can replay.
func loadServerArgs() []string {
	return []string{
		"-min-timeout", loadMinTimeout.String(),
		"-default-timeout", loadDefaultTimeout.String(),
		"-tick", loadTick.String(),
		"-announce-max", "-1",
		"-subscribe-hold", loadSubscribeHold.String(),
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// loadSeed is the seed of the request mix: PRESENCE_SEED reproduces the
// choices a run makes (not its timing).
func loadSeed(t *testing.T) uint64 {
	t.Helper()
	n := uint64(time.Now().UnixNano())
	if s := os.Getenv("PRESENCE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PRESENCE_SEED=%q: %v", s, err)
		}
		n = v
	}
	t.Logf("PRESENCE_SEED=%d", n)
	return n
}

// loadSize is the shape of one load run.
type loadSize struct {
	name           string
	clients        int // goroutines sending presence calls, each its own uuids
	pollers        int // goroutines long-polling presence channels
	channels       int
	uuidsPerClient int
	warmup         int // requests before the first memory sample
	requests       int // requests measured after the warm-up
}

// chooseLoadSize picks the run's size: small under -short or -race, so that
// `go test -race ./...` stays quick on two cores; large with PRESENCE_LOAD=full.
func chooseLoadSize(t *testing.T) loadSize {
	t.Helper()
	sz := loadSize{clients: 64, pollers: 8, channels: 16, uuidsPerClient: 4}
	switch env := os.Getenv("PRESENCE_LOAD"); {
	case env == "full":
		sz.name, sz.warmup, sz.requests = "full", 50_000, 250_000
	case env != "":
		t.Fatalf("PRESENCE_LOAD=%q: want full or nothing", env)
	case testing.Short() || raceEnabled():
		sz.name, sz.warmup, sz.requests = "small", 1_000, 4_000
	default:
		sz.name, sz.warmup, sz.requests = "default", 5_000, 25_000
	}
	return sz
}

// tally counts answers by status and keeps the first problems verbatim. It is
// safe for concurrent use: workers report here instead of failing the test.
type tally struct {
	mu        sync.Mutex
	byStatus  map[int]int
	netErrors int
	problems  []string
	nproblems int
}

func newTally() *tally { return &tally{byStatus: make(map[int]int)} }

func (t *tally) status(code int) {
	t.mu.Lock()
	t.byStatus[code]++
	t.mu.Unlock()
}

func (t *tally) netError() {
	t.mu.Lock()
	t.netErrors++
	t.mu.Unlock()
}

func (t *tally) problem(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nproblems++
	if len(t.problems) < maxProblems {
		t.problems = append(t.problems, fmt.Sprintf(format, args...))
	}
}

// count returns the number of answers with a status in [lo, hi].
func (t *tally) count(lo, hi int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for code, c := range t.byStatus {
		if code >= lo && code <= hi {
			n += c
		}
	}
	return n
}

// report fails t with the problems seen, if any.
func (t *tally) report(tb testing.TB) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nproblems > 0 {
		tb.Errorf("%d problems; the first %d:\n%s", t.nproblems, len(t.problems), strings.Join(t.problems, "\n"))
	}
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	codes := make([]int, 0, len(t.byStatus))
	for c := range t.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", c, t.byStatus[c])
	}
	fmt.Fprintf(&b, " neterr:%d", t.netErrors)
	return b.String()
}

// newLoadHTTPClient returns a client keeping up to conns connections alive to
// one host. Requests carry their own deadlines (see httpClient.get).
func newLoadHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// httpClient sends GETs to one server.
type httpClient struct {
	hc   *http.Client
	base string // http://host:port
}

// answer is what one GET got, with the times it was sent and answered.
type answer struct {
	status     int
	body       []byte
	sent, recv time.Time
	err        error
}

// get sends a GET for path (escaped, with its query) under ctx, bounded by
// limit, and reads the whole answer so that the connection is reused.
func (c *httpClient) get(ctx context.Context, path string, limit time.Duration) answer {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var a answer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		a.err = err
		return a
	}
	a.sent = time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		a.err, a.recv = err, time.Now()
		return a
	}
	a.body, a.err = io.ReadAll(resp.Body)
	resp.Body.Close()
	a.status, a.recv = resp.StatusCode, time.Now()
	return a
}

// memberKey names a membership of the load: one uuid in one channel.
type memberKey struct{ uuid, ch string }

// membership is what a client knows of one of its memberships from its own
// last call on it.
type membership struct {
	left    bool // the last call was a leave answered 200
	unknown bool // the last call failed: it may or may not have been applied
	// Of the last heartbeat answered 200: when it was sent and answered, and
	// the timeout it asked for as the server applies it.
	sent, acked time.Time
	timeout     time.Duration
	// state is the state the member must have while present, when stateKnown
	// ("" for none). A member that may have timed out and joined again has
	// an unknown state.
	state      string
	stateKnown bool
}

// expectation is what a query may find of a membership.
type expectation int

const (
	mayBeEither expectation = iota
	mustBePresent
	mustBeAbsent
)

// expect returns what a query sent at qs and answered at qr must find of m
// (nil: never joined). The server applied the last heartbeat at some time in
// [sent, acked], so the deadline lies in [sent+timeout, acked+timeout]: a
// query served before sent+timeout (which qr bounds) must see the member, a
// query served after acked+timeout+tick (plus slack for the real clock, which
// qs bounds) must not.
func (m *membership) expect(qs, qr time.Time) expectation {
	switch {
	case m == nil || m.left:
		return mustBeAbsent
	case m.unknown:
		return mayBeEither
	case qr.Before(m.sent.Add(m.timeout)):
		return mustBePresent
	case qs.After(m.acked.Add(m.timeout + loadTick + expirySlack)):
		return mustBeAbsent
	}
	return mayBeEither
}

// opCounts counts the calls of a run by kind; safe for concurrent use.
type opCounts struct {
	heartbeats, stateful, leaves   atomic.Int64
	hereNowOne, hereNowMany        atomic.Int64
	hereNowGlobal, whereNow        atomic.Int64
	checkedPresent, checkedAbsent  atomic.Int64
	polls, heldOut, events         atomic.Int64
	refreshes                      atomic.Int64
	joins, departures, stateEvents atomic.Int64
}

// loader is one client goroutine of the load and the uuids it owns. Only its
// own goroutine uses it.
type loader struct {
	id       int
	c        *httpClient
	rng      *rand.Rand
	uuids    []string
	channels []string // every channel of the load
	members  map[memberKey]*membership
	tally    *tally
	ops      *opCounts
	verify   bool // check answers against the model; off when the server is being stopped
}

func loadChannel(i int) string { return "ch-" + strconv.Itoa(i) }

func newLoader(id int, c *httpClient, sz loadSize, seed uint64, tl *tally, ops *opCounts) *loader {
	l := &loader{
		id:      id,
		c:       c,
		rng:     rand.New(rand.NewPCG(seed, uint64(id))),
		members: make(map[memberKey]*membership),
		tally:   tl,
		ops:     ops,
		verify:  true,
	}
	for i := range sz.uuidsPerClient {
		l.uuids = append(l.uuids, fmt.Sprintf("c%03d-u%d", id, i))
	}
	for i := range sz.channels {
		l.channels = append(l.channels, loadChannel(i))
	}
	return l
}

// isLoadUUID reports whether uuid is one a loader sends: no other uuid (a
// poller's, say) may ever be present.
func isLoadUUID(uuid string) bool {
	// "c%03d-u%d", parsed by hand: this runs for every uuid of every answer.
	if len(uuid) < 7 || uuid[0] != 'c' || uuid[4:6] != "-u" {
		return false
	}
	for i := 1; i < len(uuid); i++ {
		if (i < 4 || i >= 6) && (uuid[i] < '0' || uuid[i] > '9') {
			return false
		}
	}
	return true
}

// pickChannels returns n distinct channels at random.
func (l *loader) pickChannels(n int) []string {
	idx := l.rng.Perm(len(l.channels))[:n]
	out := make([]string, n)
	for i, j := range idx {
		out[i] = l.channels[j]
	}
	return out
}

// step sends one call, chosen at random, and checks its answer.
func (l *loader) step(ctx context.Context) {
	switch p := l.rng.IntN(100); {
	case p < 40:
		l.heartbeat(ctx)
	case p < 50:
		l.leave(ctx)
	case p < 68:
		l.hereNowOne(ctx)
	case p < 80:
		l.hereNowMany(ctx)
	case p < 85:
		l.hereNowGlobal(ctx)
	default:
		l.whereNow(ctx, l.uuids[l.rng.IntN(len(l.uuids))])
	}
}

// call sends path and checks the transport and the status: every call of the
// load is valid, so anything but a 200 with a body is a problem. It returns
// false when the answer is not one to read further.
func (l *loader) call(ctx context.Context, path string) (answer, bool) {
	a := l.c.get(ctx, path, waitTimeout)
	if a.err != nil {
		if ctx.Err() != nil {
			return a, false // the test is stopping this client
		}
		l.tally.netError()
		if l.verify {
			l.tally.problem("GET %s: %v", path, a.err)
		}
		return a, false
	}
	l.tally.status(a.status)
	if !l.verify {
		stoppingAnswer(l.tally, path, a)
		return a, false
	}
	if a.status != http.StatusOK {
		l.tally.problem("GET %s: status %d, want 200; body %s", path, a.status, clip(a.body))
		return a, false
	}
	return a, true
}

// heartbeat joins or refreshes one uuid in one to three channels, with a
// timeout of 1 s (raised to the 2 s minimum), 2 s, 3 s or none (the 3 s
// default), and a quarter of the time with state for one of them.
func (l *loader) heartbeat(ctx context.Context) {
	uuid := l.uuids[l.rng.IntN(len(l.uuids))]
	chs := l.pickChannels(1 + l.rng.IntN(3))
	q := url.Values{"uuid": {uuid}}
	timeout := loadDefaultTimeout
	if h := l.rng.IntN(4); h > 0 {
		q.Set("heartbeat", strconv.Itoa(h))
		timeout = max(time.Duration(h)*time.Second, loadMinTimeout)
	}
	stateCh, state := "", ""
	if l.rng.IntN(4) == 0 {
		stateCh = chs[l.rng.IntN(len(chs))]
		state = fmt.Sprintf(`{"n":%d,"by":"c%03d"}`, l.rng.IntN(1000), l.id)
		q.Set("state", fmt.Sprintf(`{%q:%s}`, stateCh, state))
		l.ops.stateful.Add(1)
	}
	l.ops.heartbeats.Add(1)
	path := "/v2/presence/sub-key/" + loadSubKey + "/channel/" + strings.Join(chs, ",") + "/heartbeat?" + q.Encode()
	a, ok := l.call(ctx, path)
	if !ok {
		l.forget(uuid, chs)
		return
	}
	if !bytes.Contains(a.body, []byte(`"status":200`)) {
		l.tally.problem("GET %s: body %s, want status 200", path, clip(a.body))
	}
	for _, ch := range chs {
		k := memberKey{uuid, ch}
		prev := l.members[k]
		m := &membership{sent: a.sent, acked: a.recv, timeout: timeout}
		switch {
		case ch == stateCh:
			m.state, m.stateKnown = state, true
		case prev == nil || prev.left:
			m.stateKnown = true // a join: no state
		case prev.expect(a.sent, a.recv) == mustBePresent:
			m.state, m.stateKnown = prev.state, prev.stateKnown // a refresh keeps the state
		case prev.expect(a.sent, a.recv) == mustBeAbsent:
			m.stateKnown = true // it had timed out: a join, no state
		default:
			// It may have timed out just before: a join without state, or a
			// refresh keeping it.
		}
		l.members[k] = m
	}
}

// forget marks the memberships a failed heartbeat named as unknown: the call
// may or may not have been applied.
func (l *loader) forget(uuid string, chs []string) {
	if !l.verify {
		return
	}
	for _, ch := range chs {
		l.members[memberKey{uuid, ch}] = &membership{unknown: true}
	}
}

// leave removes one uuid from one or two channels, preferring ones it is in.
func (l *loader) leave(ctx context.Context) {
	uuid := l.uuids[l.rng.IntN(len(l.uuids))]
	var in []string
	for _, ch := range l.channels {
		if m := l.members[memberKey{uuid, ch}]; m != nil && !m.left {
			in = append(in, ch)
		}
	}
	var chs []string
	if len(in) > 0 && l.rng.IntN(4) > 0 {
		l.rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		chs = in[:min(len(in), 1+l.rng.IntN(2))]
	} else {
		chs = l.pickChannels(1 + l.rng.IntN(2))
	}
	l.leaveChannels(ctx, uuid, chs)
}

func (l *loader) leaveChannels(ctx context.Context, uuid string, chs []string) {
	l.ops.leaves.Add(1)
	path := "/v2/presence/sub-key/" + loadSubKey + "/channel/" + strings.Join(chs, ",") + "/leave?uuid=" + url.QueryEscape(uuid)
	a, ok := l.call(ctx, path)
	if !ok {
		l.forget(uuid, chs)
		return
	}
	if !bytes.Contains(a.body, []byte(`"action":"leave"`)) {
		l.tally.problem("GET %s: body %s, want a leave answer", path, clip(a.body))
	}
	for _, ch := range chs {
		l.members[memberKey{uuid, ch}] = &membership{left: true, stateKnown: true}
	}
}

// presentUUID is one entry of a Here Now uuid list asked with state=1.
type presentUUID struct {
	UUID  string          `json:"uuid"`
	State json.RawMessage `json:"state"`
}

// hereNowChannel is a channel of a Here Now answer without state.
type hereNowChannel struct {
	UUIDs     []string `json:"uuids"`
	Occupancy int      `json:"occupancy"`
}

// hereNowOne sends Here Now for one channel, half of the time with state.
func (l *loader) hereNowOne(ctx context.Context) {
	ch := l.channels[l.rng.IntN(len(l.channels))]
	withState := l.rng.IntN(2) == 0
	path := "/v2/presence/sub-key/" + loadSubKey + "/channel/" + ch
	if withState {
		path += "?state=1"
	}
	l.ops.hereNowOne.Add(1)
	a, ok := l.call(ctx, path)
	if !ok {
		return
	}
	var got struct {
		Status    int             `json:"status"`
		Occupancy int             `json:"occupancy"`
		UUIDs     json.RawMessage `json:"uuids"`
	}
	err := json.Unmarshal(a.body, &got)
	var uuids []presentUUID
	if err == nil && withState {
		err = json.Unmarshal(got.UUIDs, &uuids)
	} else if err == nil {
		var plain []string
		err = json.Unmarshal(got.UUIDs, &plain)
		uuids = plainUUIDs(plain)
	}
	if err != nil || got.Status != 200 {
		l.tally.problem("GET %s: body %s: %v", path, clip(a.body), err)
		return
	}
	l.checkChannel(path, ch, got.Occupancy, uuids, withState, a)
}

func plainUUIDs(list []string) []presentUUID {
	out := make([]presentUUID, len(list))
	for i, u := range list {
		out[i].UUID = u
	}
	return out
}

// hereNowMany sends Here Now for two or three channels.
func (l *loader) hereNowMany(ctx context.Context) {
	chs := l.pickChannels(2 + l.rng.IntN(2))
	path := "/v2/presence/sub-key/" + loadSubKey + "/channel/" + strings.Join(chs, ",")
	l.ops.hereNowMany.Add(1)
	l.hereNowPayload(ctx, path, chs)
}

// hereNowGlobal sends Here Now for the whole sub key.
func (l *loader) hereNowGlobal(ctx context.Context) {
	l.ops.hereNowGlobal.Add(1)
	l.hereNowPayload(ctx, "/v2/presence/sub-key/"+loadSubKey, l.channels)
}

// hereNowPayload sends a Here Now answered in the payload shape and checks
// the channels chs, which it covers, against the model.
func (l *loader) hereNowPayload(ctx context.Context, path string, chs []string) {
	a, ok := l.call(ctx, path)
	if !ok {
		return
	}
	var got struct {
		Status  int `json:"status"`
		Payload struct {
			Channels       map[string]*hereNowChannel `json:"channels"`
			TotalChannels  int                        `json:"total_channels"`
			TotalOccupancy int                        `json:"total_occupancy"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil || got.Status != 200 {
		l.tally.problem("GET %s: body %s: %v", path, clip(a.body), err)
		return
	}
	total := 0
	for ch, c := range got.Payload.Channels {
		total += c.Occupancy
		if c.Occupancy == 0 {
			l.tally.problem("GET %s: empty channel %q listed; body %s", path, ch, clip(a.body))
		}
		if !slices.Contains(chs, ch) {
			l.tally.problem("GET %s: channel %q not asked for; body %s", path, ch, clip(a.body))
		}
	}
	if total != got.Payload.TotalOccupancy || len(got.Payload.Channels) != got.Payload.TotalChannels {
		l.tally.problem("GET %s: totals %d/%d, channels sum to %d/%d", path,
			got.Payload.TotalChannels, got.Payload.TotalOccupancy, len(got.Payload.Channels), total)
	}
	for _, ch := range chs {
		c := got.Payload.Channels[ch]
		if c == nil {
			c = &hereNowChannel{} // empty channels are left out
		}
		l.checkChannel(path, ch, c.Occupancy, plainUUIDs(c.UUIDs), false, a)
	}
}

// checkChannel checks what a Here Now found in ch against the model.
func (l *loader) checkChannel(path, ch string, occupancy int, uuids []presentUUID, withState bool, a answer) {
	if occupancy != len(uuids) {
		l.tally.problem("GET %s: %s occupancy %d but %d uuids", path, ch, occupancy, len(uuids))
	}
	found := make(map[string]*presentUUID, len(uuids))
	for i := range uuids {
		p := &uuids[i]
		if !isLoadUUID(p.UUID) {
			l.tally.problem("GET %s: %s lists %q, which no client joined", path, ch, p.UUID)
		}
		found[p.UUID] = p
	}
	for _, uuid := range l.uuids {
		m := l.members[memberKey{uuid, ch}]
		p := found[uuid]
		e := l.check(path, uuid, ch, m, p != nil, a)
		if p == nil || !withState || e != mustBePresent || !m.stateKnown {
			continue
		}
		if !sameJSON(p.State, m.state) {
			l.tally.problem("GET %s: %s in %s has state %s, want %q (last heartbeat sent %s, answered %s)",
				path, uuid, ch, p.State, m.state, m.sent.Format(time.StampMicro), m.acked.Format(time.StampMicro))
		}
	}
}

// check compares one membership seen (or not) by a query with the model and
// returns what was expected.
func (l *loader) check(path, uuid, ch string, m *membership, present bool, a answer) expectation {
	e := m.expect(a.sent, a.recv)
	switch {
	case e == mustBePresent && !present:
		l.tally.problem("GET %s (sent %s, answered %s): %s missing from %s; %s",
			path, a.sent.Format(time.StampMicro), a.recv.Format(time.StampMicro), uuid, ch, m.describe())
	case e == mustBeAbsent && present:
		l.tally.problem("GET %s (sent %s, answered %s): %s still in %s; %s",
			path, a.sent.Format(time.StampMicro), a.recv.Format(time.StampMicro), uuid, ch, m.describe())
	case e == mustBePresent:
		l.ops.checkedPresent.Add(1)
	case e == mustBeAbsent:
		l.ops.checkedAbsent.Add(1)
	}
	return e
}

func (m *membership) describe() string {
	switch {
	case m == nil:
		return "it never joined"
	case m.left:
		return "it left (200) before the query"
	}
	return fmt.Sprintf("last heartbeat sent %s, answered %s, timeout %v",
		m.sent.Format(time.StampMicro), m.acked.Format(time.StampMicro), m.timeout)
}

// whereNow sends Where Now for uuid and checks every channel against the
// model.
func (l *loader) whereNow(ctx context.Context, uuid string) (pending int) {
	path := "/v2/presence/sub-key/" + loadSubKey + "/uuid/" + url.PathEscape(uuid)
	l.ops.whereNow.Add(1)
	a, ok := l.call(ctx, path)
	if !ok {
		return -1
	}
	var got struct {
		Status  int `json:"status"`
		Payload struct {
			Channels []string `json:"channels"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil || got.Status != 200 || got.Payload.Channels == nil {
		l.tally.problem("GET %s: body %s: %v", path, clip(a.body), err)
		return -1
	}
	for _, ch := range got.Payload.Channels {
		if !slices.Contains(l.channels, ch) {
			l.tally.problem("GET %s: channel %q was never joined", path, ch)
		}
	}
	for _, ch := range l.channels {
		present := slices.Contains(got.Payload.Channels, ch)
		l.check(path, uuid, ch, l.members[memberKey{uuid, ch}], present, a)
		if present {
			pending++
		}
	}
	return pending
}

// lapse ends the loader's part of the run: it leaves about half of its
// memberships and lets the others time out, then asks Where Now for its
// uuids every 200 ms until none is anywhere, or until the last deadline plus
// one tick plus slack has passed (the last Where Now then checks that all are
// gone).
func (l *loader) lapse(ctx context.Context) {
	last := time.Now()
	for _, uuid := range l.uuids {
		var leave []string
		for _, ch := range l.channels {
			m := l.members[memberKey{uuid, ch}]
			if m == nil || m.left {
				continue
			}
			if l.rng.IntN(2) == 0 {
				leave = append(leave, ch)
			} else if d := m.acked.Add(m.timeout); d.After(last) {
				last = d
			}
		}
		if len(leave) > 0 {
			l.leaveChannels(ctx, uuid, leave)
		}
	}
	bound := last.Add(loadTick + expirySlack + time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		late := time.Now().After(bound)
		pending := 0
		for _, uuid := range l.uuids {
			pending += max(0, l.whereNow(ctx, uuid))
		}
		if pending == 0 || late || ctx.Err() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// sameJSON reports whether raw and want hold the same JSON value.
func sameJSON(raw json.RawMessage, want string) bool {
	if len(raw) == 0 {
		return want == ""
	}
	if want == "" {
		return false
	}
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// clip returns b for a message, cut at 300 bytes.
func clip(b []byte) string {
	if len(b) > 300 {
		return strconv.Quote(string(b[:300])) + "..."
	}
	return strconv.Quote(string(b))
}

// heapInuse returns the heap in use after two collections (the second
// empties what sync.Pools moved to their victim caches in the first).
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
