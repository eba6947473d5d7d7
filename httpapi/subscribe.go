package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/feed"
)

// maxEnvelopes is the most presence events one subscribe answer carries, as
// with PubNub; a client with more waiting gets the rest on its next call,
// which returns at once.
const maxEnvelopes = 100

// groupRecheck is how often a long-poll through channel groups expands its
// groups again, so that a channel added to a group while it waits is
// noticed. It also expands them each time it wakes.
const groupRecheck = 10 * time.Second

// feedBuffer is the buffer of the engine subscription that feeds the
// long-polls. When it is full the oldest events are dropped, and the calls
// that may have missed them are told (see "Stale cursors" in the package
// documentation).
const feedBuffer = 1 << 16

// longPollWriteSlack is added to the hold to make the write deadline of a
// long-poll: room for the implicit heartbeat and a slow client.
const longPollWriteSlack = 50 * time.Second

// statusClientClosed is reported to Config.Observe for a long-poll whose
// client went away before it was answered; nothing is written.
const statusClientClosed = 499

// subscribeConfig is the long-poll part of Config, with defaults applied.
type subscribeConfig struct {
	hold      time.Duration
	heartbeat bool // implicit heartbeat
	// ahead is how far a cursor may be ahead of the head of this server's
	// feed and still be taken as a cursor (Config.SubscribeShared).
	ahead int64
}

// sharedAhead is subscribeConfig.ahead with Config.SubscribeShared: a
// minute, in timetoken units.
const sharedAhead = int64(time.Minute / 100)

// initSubscribe checks the subscribe settings of cfg and prepares the event
// feed; nothing starts until the first subscribe call.
func (h *Handler) initSubscribe(cfg Config) error {
	hold, size, age := cfg.SubscribeHold, cfg.SubscribeCacheBytes, cfg.SubscribeCacheAge
	switch {
	case hold < 0:
		return fmt.Errorf("%w: SubscribeHold %v is negative", ErrInvalidConfig, hold)
	case size < 0:
		return fmt.Errorf("%w: SubscribeCacheBytes %d is negative", ErrInvalidConfig, size)
	case age < 0 || age > 0 && age < time.Second:
		return fmt.Errorf("%w: SubscribeCacheAge %v is under 1s", ErrInvalidConfig, age)
	}
	if hold == 0 {
		hold = DefaultSubscribeHold
	}
	if size == 0 {
		size = DefaultSubscribeCacheBytes
	}
	if age == 0 {
		age = DefaultSubscribeCacheAge
	}
	h.sub = subscribeConfig{hold: hold, heartbeat: !cfg.DisableImplicitHeartbeat}
	if cfg.SubscribeShared {
		h.sub.ahead = sharedAhead
	}
	p := h.p
	h.feed = feed.New(feed.Config{
		Subscribe: func() (*events.Subscription, error) {
			return p.Subscribe(events.Filter{}, events.Options{Buffer: feedBuffer, Policy: events.DropOldest})
		},
		Encode:   appendEnvelopeHead,
		MaxBytes: size,
		MaxAge:   age,
		Now:      h.now,
		KeepAll:  cfg.SubscribeShared,
	})
	if cfg.SubscribeShared {
		if err := h.feed.Start(); err != nil {
			return fmt.Errorf("httpapi: the subscribe feed: %w", err)
		}
	}
	return nil
}

// Close releases every waiting subscribe long-poll, each answered at once as
// if its hold had run out (no events, its own cursor), and stops the event
// feed: it closes the engine subscription and returns once the feed's
// goroutine has exited. Afterwards subscribe calls get 503; the other
// endpoints keep working.
//
// Call Close when the server starts shutting down (http.Server's
// RegisterOnShutdown), so that long-polls do not hold up the drain. Closing
// the engine stops the feed as well. Close is idempotent, safe to call
// concurrently with every other method, and returns nil.
func (h *Handler) Close() error {
	h.feed.Close()
	return nil
}

// SubscribeStats is a snapshot of the subscribe long-poll's state.
type SubscribeStats struct {
	// Waiting is the number of long-polls waiting for presence events.
	Waiting int64
	// CachedSubKeys, CachedEvents and CachedBytes describe the presence
	// events kept for the long-polls, all sub keys together; bytes as
	// counted against Config.SubscribeCacheBytes.
	CachedSubKeys             int
	CachedEvents, CachedBytes int64
	// Gaps counts the times the engine subscription behind the long-polls
	// dropped events because the feed fell behind.
	Gaps uint64
}

// SubscribeStats returns the subscribe long-poll's counters. It is cheap:
// meant for metrics.
func (h *Handler) SubscribeStats() SubscribeStats {
	st := h.feed.Stats()
	return SubscribeStats{
		Waiting:       st.Waiting,
		CachedSubKeys: st.Keys,
		CachedEvents:  st.Events,
		CachedBytes:   st.Bytes,
		Gaps:          st.Gaps,
	}
}

// subscribeRequest is a parsed subscribe call.
type subscribeRequest struct {
	// hbChans and hbGroups are the plain names: the implicit heartbeat's.
	hbChans, hbGroups []string
	// presChans and presGroups are the presence names, "-pnpres" included,
	// as sent: the names events are delivered under.
	presChans, presGroups []string
	timeout               time.Duration
	state                 map[string]json.RawMessage
	cursor                int64 // the client's tt; 0 for a handshake
}

// subscribe: /v2/subscribe/{sk}/{chs}/{callback|0}. It returns the status
// written, or statusClientClosed.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request, s *scratch) int {
	var sr subscribeRequest
	if err := h.parseSubscribe(r.Context(), s, &sr); err != nil {
		return h.fail(w, r, s, err)
	}
	k, err := h.feed.Acquire(s.sk)
	if err != nil {
		if errors.Is(err, feed.ErrClosed) {
			err = errUnavailable
		}
		return h.fail(w, r, s, err)
	}
	defer k.Release()
	head := k.Head(events.Timetoken(h.now()))
	if sr.cursor == 0 || sr.cursor > head+h.sub.ahead {
		// A handshake, or a cursor this server cannot have handed out (a
		// clock stepped back, another server): start from now. Servers
		// sharing a presence take one a little ahead as it is: another
		// server handed it out, ahead of this one's clock or reading.
		return h.answerSubscribe(w, r, s, &sr, head, nil)
	}
	return h.longPoll(w, r, s, &sr, k)
}

// longPoll holds the request until there are events for it, its hold runs
// out, the feed stops or the client goes away.
func (h *Handler) longPoll(w http.ResponseWriter, r *http.Request, s *scratch, sr *subscribeRequest, k *feed.Key) int {
	var chans feed.Channels
	if err := h.subscriptions(s.sk, sr, &chans); err != nil {
		return h.fail(w, r, s, err)
	}
	// The server's write deadline, set when the request was read, is meant
	// for answers given at once; this one may come after the hold.
	// ResponseWriters that cannot move it (a recorder) have none to move.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.sub.hold + longPollWriteSlack))
	var batch feed.Batch
	waiter := feed.NewWaiter()
	hold := time.NewTimer(h.sub.hold)
	defer hold.Stop()
	var recheck <-chan time.Time
	if len(sr.presGroups) > 0 {
		t := time.NewTicker(groupRecheck)
		defer t.Stop()
		recheck = t.C
	}
	done := r.Context().Done()
	for {
		if k.Poll(sr.cursor, &chans, maxEnvelopes, waiter, &batch) {
			return h.answerSubscribe(w, r, s, sr, batch.Cursor, &batch)
		}
		select {
		case <-waiter.Wake():
		case <-recheck:
		case <-hold.C:
			k.Cancel(waiter)
			return h.answerSubscribe(w, r, s, sr, sr.cursor, nil)
		case <-h.feed.Done():
			k.Cancel(waiter)
			return h.answerSubscribe(w, r, s, sr, sr.cursor, nil)
		case <-done:
			k.Cancel(waiter)
			return statusClientClosed
		}
		if len(sr.presGroups) > 0 {
			chans.Reset()
			if err := h.subscriptions(s.sk, sr, &chans); err != nil {
				k.Cancel(waiter)
				return h.fail(w, r, s, err)
			}
		}
	}
}

// subscriptions fills chans with the channels whose events the request
// receives: the channels named with "-pnpres", delivered under that name,
// then the channels of the groups named with "-pnpres", as the groups are
// now, delivered under the group's name.
func (h *Handler) subscriptions(sk string, sr *subscribeRequest, chans *feed.Channels) error {
	for _, name := range sr.presChans {
		chans.Add(strings.TrimSuffix(name, engine.PresenceSuffix), name)
	}
	for _, name := range sr.presGroups {
		members, err := h.p.GroupChannels(sk, strings.TrimSuffix(name, engine.PresenceSuffix))
		if err != nil {
			return err
		}
		for _, ch := range members {
			chans.Add(ch, name)
		}
	}
	return nil
}

// answerSubscribe registers the implicit heartbeat, then answers with cursor
// and what b holds (nothing when b is nil):
//
//	{"t":{"t":"<cursor>","r":1},"m":[<envelopes>]}
//
// If the heartbeat fails, the answer is its error: the client keeps its
// cursor and loses nothing.
func (h *Handler) answerSubscribe(w http.ResponseWriter, r *http.Request, s *scratch, sr *subscribeRequest, cursor int64, b *feed.Batch) int {
	if h.sub.heartbeat && (len(sr.hbChans) > 0 || len(sr.hbGroups) > 0) {
		_, err := h.p.Heartbeat(r.Context(), engine.HeartbeatRequest{
			SubKey:   s.sk,
			UUID:     s.q.uuid,
			Channels: sr.hbChans,
			Groups:   sr.hbGroups,
			Timeout:  sr.timeout,
			State:    sr.state,
		})
		if err != nil {
			return h.fail(w, r, s, err)
		}
	}
	buf := append(s.buf[:0], `{"t":{"t":"`...)
	buf = events.AppendTimetoken(buf, cursor)
	buf = append(buf, `","r":`...)
	buf = strconv.AppendInt(buf, subscribeRegion, 10)
	buf = append(buf, `},"m":[`...)
	if b != nil {
		now := h.now()
		for i, st := range b.Stale {
			if i > 0 {
				buf = append(buf, ',')
			}
			occ, _ := h.p.Occupancy(s.sk, st.Channel)
			buf = appendRefresh(buf, s.sk, st, occ, now)
		}
		for i, d := range b.Events {
			if i > 0 || len(b.Stale) > 0 {
				buf = append(buf, ',')
			}
			buf = appendDelivery(buf, d)
		}
	}
	buf = append(buf, ']', '}')
	s.buf = buf
	return writeBody(w, http.StatusOK, buf, s.cb)
}

// parseSubscribe reads and checks a subscribe call, and asks the Authorizer.
// Everything the implicit heartbeat will need is checked here, before the
// request waits.
func (h *Handler) parseSubscribe(ctx context.Context, s *scratch, sr *subscribeRequest) error {
	chs, err := splitPathNames(s.rt.channels, "channel", s.chans[:0])
	if err != nil {
		return err
	}
	groups := splitQueryNames(s.q.groups, s.groups[:0])
	if len(chs) == 0 && len(groups) == 0 {
		return engine.ErrNoChannels
	}
	for _, ch := range chs {
		base, pres := strings.CutSuffix(ch, engine.PresenceSuffix)
		if err := engine.ValidateChannel(base); err != nil {
			return err
		}
		if pres {
			sr.presChans = append(sr.presChans, ch)
		} else {
			sr.hbChans = append(sr.hbChans, ch)
		}
	}
	for _, g := range groups {
		base, pres := strings.CutSuffix(g, engine.PresenceSuffix)
		if err := engine.ValidateGroup(base); err != nil {
			return err
		}
		if pres {
			sr.presGroups = append(sr.presGroups, g)
		} else {
			sr.hbGroups = append(sr.hbGroups, g)
		}
	}
	if err := engine.ValidateUUID(s.q.uuid); err != nil {
		return err
	}
	if sr.cursor, err = parseTimetoken(s.q.tt); err != nil {
		return err
	}
	if sr.timeout, err = heartbeatTimeout(s.q.heartbeat); err != nil {
		return err
	}
	if s.q.state != "" && h.sub.heartbeat && len(sr.hbChans)+len(sr.hbGroups) > 0 {
		if sr.state, err = heartbeatStates(s.q.state, sr.hbChans, sr.hbGroups, h.presentOn(s.sk, s.q.uuid)); err != nil {
			return err
		}
		if err := checkSubscribeStates(sr); err != nil {
			return err
		}
	}
	if h.auth == nil {
		return nil
	}
	return h.ask(ctx, Request{
		Endpoint: s.ep.name,
		SubKey:   s.sk,
		Auth:     s.q.auth,
		UUID:     s.q.uuid,
		Op:       OpRead,
		Channels: chs,
		Groups:   groups,
	})
}

// checkSubscribeStates applies the engine's state rules that do not depend
// on its configuration to the implicit heartbeat's state, before the call
// waits: each value is a JSON object. The size limit is the engine's to
// check. An unkeyed state, the same value under every name, is checked once.
//
// Like a heartbeat's, a subscribe call's state may name other channels (the
// JavaScript SDK's event engine sends the state of every channel it has set
// state on with each handshake, whatever the call subscribes to):
// heartbeatStates has dropped those.
func checkSubscribeStates(sr *subscribeRequest) error {
	var checked json.RawMessage
	for _, v := range sr.state {
		if sameBytes(v, checked) {
			continue
		}
		if _, err := engine.CompactState(v, math.MaxInt32); err != nil {
			return err
		}
		checked = v
	}
	return nil
}

// sameBytes reports whether a and b are the same slice of the same memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseTimetoken reads the tt parameter: absent, empty or "0" is 0 (a
// handshake); otherwise a positive decimal timetoken.
func parseTimetoken(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, badRequest(fmt.Sprintf("Invalid tt: %q is not a timetoken", v))
		}
	}
	tt, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("Invalid tt: %q is not a timetoken", v))
	}
	return tt, nil
}
