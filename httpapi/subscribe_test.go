package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

const subPre = "/v2/subscribe/" + sk

// inBubble runs f in a synctest bubble whose clock starts at fixedNow, so
// that timetokens and timestamps in answers are the same on every run.
func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(fixedNow))
		f(t)
	})
}

// newSubEnv returns an env whose handler reads the same clock as the engine
// (the bubble's), as a server's would.
func newSubEnv(t *testing.T, cfg Config, ecfg engine.Config) *env {
	t.Helper()
	cfg.Now = time.Now
	return newEnv(t, cfg, ecfg)
}

// pending is a request being served on its own goroutine.
type pending struct {
	rec    *httptest.ResponseRecorder
	done   chan struct{}
	cancel context.CancelFunc
}

// start serves target on a new goroutine, with a context the test can
// cancel as a client going away would.
func (e *env) start(target string) *pending {
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, target, nil).WithContext(ctx)
	p := &pending{rec: httptest.NewRecorder(), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		e.h.ServeHTTP(p.rec, req)
	}()
	return p
}

// answered reports, once everything in the bubble has settled, whether the
// request has been answered.
func (p *pending) answered() bool {
	synctest.Wait()
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// subAnswer is a subscribe answer, decoded.
type subAnswer struct {
	T struct {
		T string `json:"t"`
		R int    `json:"r"`
	} `json:"t"`
	M []envelope `json:"m"`
}

type envelope struct {
	A string `json:"a"`
	F int    `json:"f"`
	P struct {
		T string `json:"t"`
		R int    `json:"r"`
	} `json:"p"`
	K string         `json:"k"`
	C string         `json:"c"`
	D map[string]any `json:"d"`
	B string         `json:"b"`
}

func decodeAnswer(t *testing.T, rec *httptest.ResponseRecorder) subAnswer {
	t.Helper()
	require.Equal(t, 200, rec.Code, rec.Body.String())
	var a subAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), rec.Body.String())
	return a
}

// handshake subscribes without a cursor and returns the cursor answered.
func (e *env) handshake(target string) string {
	e.t.Helper()
	a := decodeAnswer(e.t, e.get(target))
	require.Empty(e.t, a.M)
	require.Equal(e.t, subscribeRegion, a.T.R)
	return a.T.T
}

// actions lists "action uuid" of each envelope.
func actions(a subAnswer) []string {
	var out []string
	for _, m := range a.M {
		s, _ := m.D["action"].(string)
		if u, ok := m.D["uuid"].(string); ok {
			s += " " + u
		}
		out = append(out, s)
	}
	return out
}

func TestSubscribeHandshake(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		a := decodeAnswer(t, e.get(subPre+"/ch1-pnpres/0?uuid=u1"))
		tt, err := strconv.ParseInt(a.T.T, 10, 64)
		require.NoError(t, err)
		assert.Equal(t, events.Timetoken(time.Now())-1, tt, "now, less one: an event of this very 100 ns is not missed")
		assert.Len(t, a.T.T, 17)

		for _, target := range []string{
			subPre + "/ch1-pnpres/0?uuid=u1",
			subPre + "/ch1-pnpres/0?uuid=u1&tt=0",
			subPre + "/ch1-pnpres/0?uuid=u1&tt=&tr=",
			subPre + "/ch1-pnpres/0?uuid=u1&heartbeat=60&ee=&pnsdk=PubNub-JS-Nodejs%2F12.0.3",
		} {
			rec := e.get(target)
			assert.Equal(t, 200, rec.Code)
			checkCommon(t, rec)
			golden(t, "subscribe_handshake.json", rec.Body.Bytes())
			assert.Equal(t, observation{EndpointSubscribe, 200}, e.lastObserved())
		}
		// A handshake on a plain channel heartbeats; later handshakes start
		// past the events filed (here u1's join).
		decodeAnswer(t, e.get(subPre+"/ch1,ch1-pnpres/0?uuid=u1"))
		assert.Equal(t, []string{"ch1"}, e.whereNow("u1"))
		synctest.Wait()
		a = decodeAnswer(t, e.get(subPre+"/ch1-pnpres/0?uuid=u1"))
		assert.Greater(t, a.T.T, strconv.FormatInt(tt, 10))
	})
}

// TestSubscribeEnvelopes pins the exact answers: a client handshakes, events
// happen, and its next call gets them.
func TestSubscribeEnvelopes(t *testing.T) {
	longUUID := func(i int) string { return strings.Repeat("u", 88) + strconv.Itoa(1000+i) }
	cases := []struct {
		name   string
		ecfg   engine.Config
		before func(e *env) // before the handshake
		target string       // without tt
		events func(e *env) // after the handshake
	}{
		{
			name:   "join with state",
			before: func(e *env) { e.beat("u1", nil, "ch1") },
			target: subPre + "/ch1-pnpres/0?uuid=watcher",
			events: func(e *env) {
				rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u2&state=%7B%22ch1%22%3A%7B%22mood%22%3A%22happy%22%7D%7D")
				require.Equal(e.t, 200, rec.Code)
			},
		},
		{
			name:   "leave",
			before: func(e *env) { e.beat("u2", map[string]string{"ch1": `{"mood":"happy"}`}, "ch1") },
			target: subPre + "/ch1-pnpres/0?uuid=watcher",
			events: func(e *env) { require.Equal(e.t, 200, e.get(pre+"/channel/ch1/leave?uuid=u2").Code) },
		},
		{
			name: "timeout",
			ecfg: engine.Config{MinTimeout: time.Second},
			before: func(e *env) {
				_, err := e.eng.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u2", Channels: []string{"ch1"}, Timeout: 5 * time.Second})
				require.NoError(e.t, err)
			},
			target: subPre + "/ch1-pnpres/0?uuid=watcher",
			events: func(e *env) { time.Sleep(7 * time.Second) },
		},
		{
			name:   "state change",
			before: func(e *env) { e.beat("u2", nil, "ch1") },
			target: subPre + "/ch1-pnpres/0?uuid=watcher",
			events: func(e *env) {
				require.Equal(e.t, 200, e.get(pre+"/channel/ch1/uuid/u2/data?state=%7B%22mood%22%3A%22busy%22%7D").Code)
				time.Sleep(time.Second)
				require.Equal(e.t, 200, e.get(pre+"/channel/ch1/uuid/u2/data?state=%7B%7D").Code)
			},
		},
		{
			name: "interval with deltas",
			ecfg: engine.Config{AnnounceMax: 2, IntervalDeltas: true, Interval: 10 * time.Second},
			before: func(e *env) {
				e.beat("u1", nil, "ch1")
				e.beat("u2", nil, "ch1")
			},
			target: subPre + "/ch1-pnpres/0?uuid=watcher",
			events: func(e *env) {
				e.beat("u3", nil, "ch1")
				e.beat("u4", nil, "ch1")
				require.Equal(e.t, 200, e.get(pre+"/channel/ch1/leave?uuid=u1").Code)
				time.Sleep(10 * time.Second)
			},
		},
		{
			name: "interval here_now_refresh",
			ecfg: engine.Config{AnnounceMax: 2, IntervalDeltas: true, Interval: 10 * time.Second},
			before: func(e *env) {
				e.beat(longUUID(0), nil, "ch1")
				e.beat(longUUID(1), nil, "ch1")
			},
			target: subPre + "/ch1-pnpres/0?uuid=watcher",
			events: func(e *env) {
				for i := 2; i < 400; i++ { // 398 joins of 95 bytes each: over 30 KB
					e.beat(longUUID(i), nil, "ch1")
				}
				time.Sleep(10 * time.Second)
			},
		},
		{
			name:   "group",
			before: func(e *env) { e.group("g", "ch1", "ch2") },
			target: subPre + "/,/0?uuid=watcher&channel-group=g-pnpres",
			events: func(e *env) {
				e.beat("u1", nil, "ch2")
				e.beat("u1", nil, "other")
			},
		},
		{
			name:   "channel and group",
			before: func(e *env) { e.group("g", "ch1", "ch2") },
			target: subPre + "/ch1-pnpres/0?uuid=watcher&channel-group=g,g-pnpres",
			events: func(e *env) {
				e.beat("u1", nil, "ch1")
				e.beat("u1", nil, "ch2")
			},
		},
		{
			name:   "own join",
			target: subPre + "/ch1,ch1-pnpres/0?uuid=watcher&heartbeat=60",
			events: func(e *env) {},
		},
		{
			name:   "escaped names",
			target: subPre + "/caf%C3%A9-pnpres,%E2%9C%93-pnpres/0?uuid=watcher",
			events: func(e *env) {
				e.beat(`u"1`, nil, "café")
				e.beat("u\u2028", nil, "✓")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				e := newSubEnv(t, Config{}, tc.ecfg)
				if tc.before != nil {
					tc.before(e)
				}
				tt := e.handshake(tc.target)
				tc.events(e)
				synctest.Wait()
				rec := e.get(tc.target + "&tt=" + tt)
				assert.Equal(t, 200, rec.Code)
				checkCommon(t, rec)
				require.True(t, json.Valid(rec.Body.Bytes()), rec.Body.String())
				golden(t, goldenName("subscribe "+tc.name, ".json"), rec.Body.Bytes())
				a := decodeAnswer(t, rec)
				require.NotEmpty(t, a.M)
				for _, m := range a.M {
					assert.Equal(t, envelopeShard, m.A)
					assert.Equal(t, sk, m.K)
					assert.True(t, strings.HasSuffix(m.C, "-pnpres"))
					assert.True(t, strings.HasSuffix(m.B, "-pnpres"))
					assert.LessOrEqual(t, m.P.T, a.T.T)
					assert.Greater(t, m.P.T, tt)
				}
			})
		})
	}
}

func TestSubscribeJSONP(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		for name, target := range map[string]string{
			"jsonp subscribe":       subPre + "/ch1-pnpres/cb?uuid=u1",
			"jsonp subscribe query": subPre + "/ch1-pnpres/0?uuid=u1&callback=a.b",
			"jsonp subscribe error": subPre + "/a%20b/cb?uuid=u1",
		} {
			rec := e.get(target)
			checkCommon(t, rec)
			assert.Equal(t, rec.Body.Len(), mustAtoi(t, rec.Header().Get("Content-Length")))
			golden(t, goldenName(name, ".js"), rec.Body.Bytes())
		}
		rec := e.get(subPre + "/ch1-pnpres/alert(1)?uuid=u1")
		assert.Equal(t, 400, rec.Code)
		assert.True(t, strings.HasPrefix(rec.Body.String(), "{"), "not wrapped")
	})
}

func TestSubscribeErrors(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		method string
		target string
		status int
	}{
		{name: "no channels", target: subPre + "/,/0?uuid=u1", status: 400},
		{name: "empty channel name", target: subPre + "/a,,a-pnpres/0?uuid=u1", status: 400},
		{name: "invalid channel", target: subPre + "/a%20b-pnpres/0?uuid=u1", status: 400},
		{name: "presence of presence", target: subPre + "/a-pnpres-pnpres/0?uuid=u1", status: 400},
		{name: "invalid group", target: subPre + "/,/0?uuid=u1&channel-group=a:b-pnpres", status: 400},
		{name: "no uuid", target: subPre + "/a,a-pnpres/0", status: 400},
		{name: "bad tt", target: subPre + "/a-pnpres/0?uuid=u1&tt=abc", status: 400},
		{name: "negative tt", target: subPre + "/a-pnpres/0?uuid=u1&tt=-5", status: 400},
		{name: "huge tt", target: subPre + "/a-pnpres/0?uuid=u1&tt=99999999999999999999", status: 400},
		{name: "bad heartbeat", target: subPre + "/a,a-pnpres/0?uuid=u1&heartbeat=x", status: 400},
		{name: "state not an object", target: subPre + "/a,a-pnpres/0?uuid=u1&state=%5B1%5D", status: 400},
		{name: "state value not an object", target: subPre + `/a,a-pnpres/0?uuid=u1&state={"a":1}`, status: 400},
		{name: "unknown sub key", cfg: Config{Keys: []Key{{SubKey: "other"}}}, target: subPre + "/a-pnpres/0?uuid=u1", status: 400},
		{name: "no callback segment", target: subPre + "/a-pnpres?uuid=u1", status: 404},
		{name: "method", method: http.MethodPost, target: subPre + "/a-pnpres/0?uuid=u1", status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				e := newSubEnv(t, tc.cfg, engine.Config{})
				method := tc.method
				if method == "" {
					method = http.MethodGet
				}
				rec := e.do(method, tc.target)
				assert.Equal(t, tc.status, rec.Code, rec.Body.String())
				checkCommon(t, rec)
				golden(t, goldenName("subscribe error "+tc.name, ".json"), rec.Body.Bytes())
				assert.Empty(t, e.whereNow("u1"), "nothing applied")
			})
		})
	}
}

func TestSubscribeAuthorization(t *testing.T) {
	cases := []struct {
		name   string
		target string
		status int
	}{
		{name: "granted", target: subPre + "/room.1,room.1-pnpres/0?uuid=u1&auth=k1", status: 200},
		{name: "presence names of granted groups", target: subPre + "/,/0?uuid=u1&auth=k1&channel-group=g,g-pnpres", status: 200},
		{name: "presence name denied", target: subPre + "/room.1,secret-pnpres/0?uuid=u1&auth=k1", status: 403},
		{name: "group presence name denied", target: subPre + "/room.1-pnpres/0?uuid=u1&auth=k1&channel-group=h-pnpres", status: 403},
		{name: "no auth", target: subPre + "/public-pnpres/0?uuid=u1", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				e := newSubEnv(t, Config{Authorizer: loadTestGrants(t)}, engine.Config{})
				rec := e.get(tc.target)
				assert.Equal(t, tc.status, rec.Code, rec.Body.String())
				if tc.status == 403 {
					golden(t, goldenName("subscribe auth "+tc.name, ".json"), rec.Body.Bytes())
					assert.Empty(t, e.whereNow("u1"), "nothing applied")
				}
			})
		})
	}

	inBubble(t, func(t *testing.T) {
		a := &recordingAuthorizer{}
		e := newSubEnv(t, Config{Authorizer: a}, engine.Config{})
		require.Equal(t, 200, e.get(subPre+"/a,a-pnpres,b-pnpres/0?uuid=u1&auth=k&channel-group=g,g-pnpres").Code)
		assert.Equal(t, Request{
			Endpoint: EndpointSubscribe, SubKey: sk, Auth: "k", UUID: "u1", Op: OpRead,
			Channels: []string{"a", "a-pnpres", "b-pnpres"}, Groups: []string{"g", "g-pnpres"},
		}, a.last(t))
		n := a.count()
		e.get(subPre + "/a%20b-pnpres/0?uuid=u1")
		assert.Equal(t, n, a.count(), "names are checked first")
	})
}

func TestSubscribeSigned(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{Keys: []Key{{SubKey: sk, PubKey: pubKey, SecretKey: secretKey}}}, engine.Config{})
		target := signedTarget(subPre+"/ch1,ch1-pnpres/0", url.Values{"uuid": {"u1"}, "heartbeat": {"60"}}, "", time.Now())
		rec := e.get(target)
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		tt := decodeAnswer(t, rec).T.T

		// The cursor is signed too.
		target = signedTarget(subPre+"/ch1,ch1-pnpres/0", url.Values{"uuid": {"u1"}, "tt": {tt}, "tr": {"1"}}, "", time.Now())
		rec = e.get(target)
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"join u1"}, actions(decodeAnswer(t, rec)))

		rec = e.get(subPre + "/ch1,ch1-pnpres/0?uuid=u1&tt=" + tt)
		assert.Equal(t, 403, rec.Code)
		golden(t, "signature_mismatch.json", rec.Body.Bytes())
	})
}

// TestSubscribeShared: servers sharing a presence keep every sub key's
// events from the start, before any subscribe call names it, and take a
// cursor a little ahead of their own clock as a cursor, where one server
// alone takes it for a handshake.
func TestSubscribeShared(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{SubscribeShared: true}, engine.Config{})
		cursor := strconv.FormatInt(events.Timetoken(time.Now()), 10) // as another server handed it out
		time.Sleep(time.Second)
		e.beat("u1", nil, "ch1") // before any subscribe call of this sub key
		synctest.Wait()
		a := decodeAnswer(t, e.get(subPre+"/ch1-pnpres/0?uuid=w&tt="+cursor))
		assert.Equal(t, []string{"join u1"}, actions(a), "kept from the start, delivered to the cursor")

		ahead := strconv.FormatInt(events.Timetoken(time.Now().Add(10*time.Second)), 10)
		p := e.start(subPre + "/ch1-pnpres/0?uuid=w&tt=" + ahead)
		assert.False(t, p.answered(), "a cursor ahead, within a minute, waits as a cursor")
		p.cancel()
		<-p.done

		alone := newSubEnv(t, Config{}, engine.Config{})
		a = decodeAnswer(t, alone.get(subPre+"/ch1-pnpres/0?uuid=w&tt="+ahead))
		assert.NotEqual(t, ahead, a.T.T, "alone, a server takes it for a handshake: now")
	})
}
