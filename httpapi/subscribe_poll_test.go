package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

func TestSubscribeWaitsAndWakesOnlyForItsChannels(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		tt := e.handshake(subPre + "/a-pnpres,b-pnpres/0?uuid=w")
		pa := e.start(subPre + "/a-pnpres/0?uuid=wa&tt=" + tt)
		pb := e.start(subPre + "/b-pnpres/0?uuid=wb&tt=" + tt)
		pc := e.start(subPre + "/c-pnpres/0?uuid=wc&tt=" + tt + "&channel-group=g-pnpres")
		require.False(t, pa.answered())
		require.False(t, pb.answered())
		require.False(t, pc.answered())
		h := e.h.(*Handler)
		assert.EqualValues(t, 3, h.SubscribeStats().Waiting)

		time.Sleep(time.Minute)
		e.beat("u1", nil, "a")
		require.True(t, pa.answered())
		assert.False(t, pb.answered(), "an event of a does not wake b's waiter")
		assert.False(t, pc.answered())
		a := decodeAnswer(t, pa.rec)
		assert.Equal(t, []string{"join u1"}, actions(a))
		assert.Equal(t, a.M[0].P.T, a.T.T)
		assert.EqualValues(t, 2, h.SubscribeStats().Waiting)

		pb.cancel()
		pc.cancel()
		require.True(t, pb.answered())
		require.True(t, pc.answered())
		assert.Zero(t, h.SubscribeStats().Waiting)
	})
}

// TestSubscribeConsecutivePolls runs a client polling in a loop while events
// happen: every event reaches it once, in order, whether it happened while
// the client waited or between two of its calls.
func TestSubscribeConsecutivePolls(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{AnnounceMax: -1})
		const n = 300
		target := subPre + "/ch1-pnpres/0?uuid=watcher"
		tt := e.handshake(target)

		go func() {
			for i := range n {
				_, err := e.eng.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u" + strconv.Itoa(i), Channels: []string{"ch1"}, Timeout: time.Hour})
				if err != nil {
					panic(err)
				}
				if i%7 == 0 {
					time.Sleep(time.Duration(i%3) * time.Second)
				}
			}
		}()

		var seen []string
		polls := 0
		for len(seen) < n {
			a := decodeAnswer(t, e.get(target+"&tt="+tt))
			require.NotEmpty(t, a.M, "after %d events", len(seen))
			require.LessOrEqual(t, len(a.M), maxEnvelopes)
			for _, m := range a.M {
				assert.Greater(t, m.P.T, tt)
				assert.LessOrEqual(t, m.P.T, a.T.T)
				seen = append(seen, m.D["uuid"].(string))
			}
			tt = a.T.T
			polls++
		}
		want := make([]string, n)
		for i := range want {
			want[i] = "u" + strconv.Itoa(i)
		}
		assert.Equal(t, want, seen)
		assert.Greater(t, polls, 3)

		// Nothing more: the next call waits its hold and answers with its own cursor.
		a := decodeAnswer(t, e.get(target+"&tt="+tt))
		assert.Empty(t, a.M)
		assert.Equal(t, tt, a.T.T)
	})
}

func TestSubscribeAnswerIsCapped(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{AnnounceMax: -1})
		target := subPre + "/ch1-pnpres/0?uuid=watcher"
		tt := e.handshake(target)
		for i := range maxEnvelopes + 50 {
			e.beat("u"+strconv.Itoa(i), nil, "ch1")
		}
		synctest.Wait()
		a := decodeAnswer(t, e.get(target+"&tt="+tt))
		require.Len(t, a.M, maxEnvelopes)
		assert.Equal(t, a.M[maxEnvelopes-1].P.T, a.T.T, "the cursor stops at the last event given")
		b := decodeAnswer(t, e.get(target+"&tt="+a.T.T))
		require.Len(t, b.M, 50)
		assert.Equal(t, "u"+strconv.Itoa(maxEnvelopes), b.M[0].D["uuid"])
	})
}

func TestSubscribeHold(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		hold time.Duration
	}{
		{"default", Config{}, 280 * time.Second},
		{"configured", Config{SubscribeHold: 30 * time.Second}, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				e := newSubEnv(t, tc.cfg, engine.Config{})
				e.beat("other", nil, "elsewhere") // events on other channels do not end the wait
				tt := strconv.FormatInt(events.Timetoken(time.Now())-1, 10)
				p := e.start(subPre + "/ch1,ch1-pnpres/0?uuid=u1&heartbeat=60&tt=" + tt)
				require.False(t, p.answered())
				e.beat("other", nil, "elsewhere2")
				time.Sleep(tc.hold - time.Second)
				require.False(t, p.answered())
				assert.Empty(t, e.whereNow("u1"), "the implicit heartbeat waits for the answer")

				time.Sleep(2 * time.Second)
				require.True(t, p.answered())
				a := decodeAnswer(t, p.rec)
				assert.Empty(t, a.M)
				assert.Equal(t, tt, a.T.T, "no events: the same cursor")
				assert.Equal(t, []string{"ch1"}, e.whereNow("u1"), "registered with the answer")
				assert.Equal(t, observation{EndpointSubscribe, 200}, e.lastObserved())
			})
		})
	}
}

func TestSubscribeImplicitHeartbeat(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		join  bool
		state string
	}{
		{name: "on", join: true, state: `{"mood":"happy"}`},
		{name: "off", cfg: Config{DisableImplicitHeartbeat: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				e := newSubEnv(t, tc.cfg, engine.Config{MinTimeout: time.Second})
				e.group("g", "ch2")
				target := subPre + `/ch1,ch1-pnpres/0?uuid=u1&heartbeat=30&channel-group=g&state={"ch1":{"mood":"happy"}}`
				tt := e.handshake(target)
				if !tc.join {
					assert.Empty(t, e.whereNow("u1"))
					return
				}
				assert.Equal(t, []string{"ch1", "ch2"}, e.whereNow("u1"), "a handshake is answered at once, and heartbeats")
				assertState(t, e, "u1", "ch1", tc.state)

				// Every answer refreshes: 25 s apart, with a 30 s timeout, u1 stays.
				for range 4 {
					p := e.start(subPre + "/ch1,ch1-pnpres/0?uuid=u1&heartbeat=30&channel-group=g&tt=" + tt)
					time.Sleep(25 * time.Second)
					e.beat("x", nil, "ch1") // an event for the poll
					require.True(t, p.answered())
					tt = decodeAnswer(t, p.rec).T.T
				}
				assert.Equal(t, []string{"ch1", "ch2"}, e.whereNow("u1"))
				// A call that is never answered does not heartbeat: u1 times out.
				p := e.start(subPre + "/ch1,ch1-pnpres/0?uuid=u1&heartbeat=30&channel-group=g&tt=" + tt)
				require.False(t, p.answered())
				p.cancel()
				require.True(t, p.answered())
				time.Sleep(32 * time.Second)
				assert.Empty(t, e.whereNow("u1"))
			})
		})
	}
}

// TestSubscribeStateOfOtherNames: the state of names the call does not
// heartbeat is ignored, not an error: the JavaScript SDK sends the state of
// every channel it has set state on.
func TestSubscribeStateOfOtherNames(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		rec := e.get(subPre + `/a,a-pnpres/0?uuid=u1&state={"b":{"x":1},"a-pnpres":{"x":2},"a":{"x":3}}`)
		require.Equal(t, 200, rec.Code, rec.Body.String())
		assertState(t, e, "u1", "a", `{"x":3}`)
		assert.Equal(t, []string{"a"}, e.whereNow("u1"))
	})
}

func TestSubscribeHeartbeatFailsAtAnswer(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{MaxMembers: 1})
		e.beat("other", nil, "full")
		rec := e.get(subPre + "/ch1,ch1-pnpres/0?uuid=u1")
		assert.Equal(t, 503, rec.Code, "the engine is full: the answer is the heartbeat's error")
		assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	})
}

func TestSubscribeClientGoes(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		h := e.h.(*Handler)
		tt := strconv.FormatInt(events.Timetoken(time.Now())-1, 10)
		p := e.start(subPre + "/ch1,ch1-pnpres,ch2-pnpres/0?uuid=u1&tt=" + tt)
		require.False(t, p.answered())
		assert.EqualValues(t, 1, h.SubscribeStats().Waiting)

		p.cancel()
		require.True(t, p.answered(), "released at once")
		assert.Zero(t, h.SubscribeStats().Waiting)
		assert.Zero(t, p.rec.Body.Len(), "nothing written")
		assert.Empty(t, e.whereNow("u1"), "no answer, no heartbeat")
		assert.Equal(t, observation{EndpointSubscribe, statusClientClosed}, e.lastObserved())
		assert.Empty(t, e.logged())

		// The registry is empty: an event wakes nobody, and nothing leaks.
		e.beat("u2", nil, "ch1")
		synctest.Wait()
	})
}

func TestSubscribeClose(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		h := e.h.(*Handler)
		tt := e.handshake(subPre + "/ch1-pnpres/0?uuid=u1")
		p := e.start(subPre + "/ch1,ch1-pnpres/0?uuid=u1&tt=" + tt)
		require.False(t, p.answered())

		require.NoError(t, h.Close())
		require.True(t, p.answered(), "released at once")
		a := decodeAnswer(t, p.rec)
		assert.Empty(t, a.M)
		assert.Equal(t, tt, a.T.T)
		require.NoError(t, h.Close())

		rec := e.get(subPre + "/ch1-pnpres/0?uuid=u1")
		assert.Equal(t, 503, rec.Code)
		assert.Equal(t, 200, e.get(pre+"/channel/ch1/heartbeat?uuid=u2").Code, "the rest keeps working")
	})
}

func TestSubscribeCloseBeforeUse(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()
	h, err := New(eng, Config{})
	require.NoError(t, err)
	require.NoError(t, h.Close())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, subPre+"/a-pnpres/0?uuid=u1", nil))
	assert.Equal(t, 503, rec.Code)
}

func TestSubscribeEngineCloses(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		tt := e.handshake(subPre + "/ch1-pnpres/0?uuid=u1")
		watcher := e.start(subPre + "/ch1-pnpres/0?uuid=u1&tt=" + tt)
		member := e.start(subPre + "/ch1,ch1-pnpres/0?uuid=u2&tt=" + tt)
		require.False(t, watcher.answered())
		require.False(t, member.answered())

		require.NoError(t, e.eng.Close())
		require.True(t, watcher.answered())
		require.True(t, member.answered())
		assert.Equal(t, 200, watcher.rec.Code, "nothing to heartbeat: an empty answer")
		assert.Equal(t, 503, member.rec.Code, "its heartbeat fails")
		assert.Equal(t, 503, e.get(subPre+"/ch1-pnpres/0?uuid=u1").Code)
	})
}

func TestSubscribeGroupChangesWhileWaiting(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		e.group("g", "a")
		tt := e.handshake(subPre + "/,/0?uuid=w&channel-group=g-pnpres")
		p := e.start(subPre + "/,/0?uuid=w&channel-group=g-pnpres&tt=" + tt)
		require.False(t, p.answered())

		e.group("g", "b")
		e.beat("u1", nil, "b")
		require.False(t, p.answered(), "b was not in g when the wait began")
		time.Sleep(groupRecheck)
		require.True(t, p.answered(), "the group is expanded again")
		a := decodeAnswer(t, p.rec)
		require.Len(t, a.M, 1)
		assert.Equal(t, "b-pnpres", a.M[0].C)
		assert.Equal(t, "g-pnpres", a.M[0].B)

		// A channel removed from the group is no longer delivered.
		require.NoError(t, e.eng.RemoveChannelsFromGroup(sk, "g", "a"))
		p = e.start(subPre + "/,/0?uuid=w&channel-group=g-pnpres&tt=" + a.T.T)
		e.beat("u1", nil, "a")
		require.False(t, p.answered())
		e.beat("u2", nil, "b")
		require.True(t, p.answered())
		assert.Equal(t, []string{"join u2"}, actions(decodeAnswer(t, p.rec)))
	})
}

func TestSubscribeFutureCursor(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		e := newSubEnv(t, Config{}, engine.Config{})
		future := strconv.FormatInt(events.Timetoken(time.Now().Add(time.Hour)), 10)
		a := decodeAnswer(t, e.get(subPre+"/ch1-pnpres/0?uuid=u1&tt="+future))
		assert.Empty(t, a.M)
		assert.Less(t, a.T.T, future, "answered at once with a cursor of this server")

		// From that cursor, events arrive.
		p := e.start(subPre + "/ch1-pnpres/0?uuid=u1&tt=" + a.T.T)
		e.beat("u2", nil, "ch1")
		require.True(t, p.answered())
		assert.Equal(t, []string{"join u2"}, actions(decodeAnswer(t, p.rec)))
	})
}

// TestSubscribeStaleCursor: a cursor older than what the server still holds
// gets what is held, led by an interval envelope with here_now_refresh for
// each channel that may have lost events; the answer's cursor is past the
// loss, so the next call is an ordinary one.
func TestSubscribeStaleCursor(t *testing.T) {
	t.Run("evicted", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			// Room for a handful of events.
			e := newSubEnv(t, Config{SubscribeCacheBytes: 2048}, engine.Config{AnnounceMax: -1})
			target := subPre + "/ch1-pnpres,ch2-pnpres,ch3-pnpres/0?uuid=watcher"
			tt := e.handshake(target)
			e.beat("u1", nil, "ch1")
			for i := range 30 {
				time.Sleep(time.Second)
				e.beat("v"+strconv.Itoa(i), nil, "busy")
			}
			e.beat("u2", nil, "ch2")
			synctest.Wait()
			rec := e.get(target + "&tt=" + tt)
			golden(t, "subscribe_stale_evicted.json", rec.Body.Bytes())
			a := decodeAnswer(t, rec)
			assert.Equal(t, []string{"interval", "join u2"}, actions(a))
			assert.Equal(t, true, a.M[0].D["here_now_refresh"])
			assert.Equal(t, "ch1-pnpres", a.M[0].C, "only ch1 lost an event")
			assert.EqualValues(t, 1, a.M[0].D["occupancy"], "its occupancy now")

			p := e.start(target + "&tt=" + a.T.T)
			require.False(t, p.answered(), "the next call is an ordinary wait")
			p.cancel()
			require.True(t, p.answered())
		})
	})
	t.Run("older than the server", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			e := newSubEnv(t, Config{}, engine.Config{})
			e.group("g", "ch2")
			e.beat("u1", nil, "ch2")
			old := strconv.FormatInt(events.Timetoken(time.Now().Add(-time.Hour)), 10)
			rec := e.get(subPre + "/ch1-pnpres/0?uuid=watcher&channel-group=g-pnpres&tt=" + old)
			golden(t, "subscribe_stale_restart.json", rec.Body.Bytes())
			a := decodeAnswer(t, rec)
			require.Len(t, a.M, 2)
			assert.Equal(t, "ch1-pnpres", a.M[0].B)
			assert.Equal(t, "g-pnpres", a.M[1].B)
			assert.EqualValues(t, 1, a.M[1].D["occupancy"])
		})
	})
}

func TestSubscribeCacheBounds(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		const size = 16 << 10
		e := newSubEnv(t, Config{SubscribeCacheBytes: size, SubscribeCacheAge: 30 * time.Second}, engine.Config{AnnounceMax: -1})
		h := e.h.(*Handler)
		tt := e.handshake(subPre + "/ch1-pnpres/0?uuid=watcher")
		for i := range 1000 {
			e.beat("u"+strconv.Itoa(i), map[string]string{"ch1": `{"pad":"0123456789"}`}, "ch1")
		}
		synctest.Wait()
		st := h.SubscribeStats()
		assert.LessOrEqual(t, st.CachedBytes, int64(size))
		assert.Greater(t, st.CachedBytes, int64(size/2))
		assert.Equal(t, 1, st.CachedSubKeys)
		assert.Less(t, st.CachedEvents, int64(1000))

		// A sub key nobody subscribes to keeps nothing.
		_, err := e.eng.Heartbeat(bg, engine.HeartbeatRequest{SubKey: "unwatched", UUID: "u", Channels: []string{"x"}})
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, 1, h.SubscribeStats().CachedSubKeys)

		// Events age out, then the idle sub key is forgotten (the sweep runs
		// every 5 s).
		time.Sleep(36 * time.Second)
		synctest.Wait()
		assert.Equal(t, SubscribeStats{}, h.SubscribeStats())
		a := decodeAnswer(t, e.get(subPre+"/ch1-pnpres/0?uuid=watcher&tt="+tt))
		assert.Equal(t, []string{"interval"}, actions(a), "the stale cursor is told")
	})
}

func TestSubscribeConfigErrors(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()
	for name, cfg := range map[string]Config{
		"negative hold":  {SubscribeHold: -1},
		"negative bytes": {SubscribeCacheBytes: -1},
		"short age":      {SubscribeCacheAge: time.Millisecond},
		"negative age":   {SubscribeCacheAge: -time.Second},
	} {
		_, err := New(eng, cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

// TestSubscribeOverLoopback runs the long-poll over real sockets, with a
// short hold: an answer at the end of the hold, an answer woken by an event,
// and a client going away.
func TestSubscribeOverLoopback(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()
	var mu sync.Mutex
	var statuses []int
	h, err := New(eng, Config{SubscribeHold: 50 * time.Millisecond, Observe: func(ep string, status int, _ time.Duration) {
		mu.Lock()
		statuses = append(statuses, status)
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(ctx context.Context, path string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	decode := func(body string) subAnswer {
		rec := httptest.NewRecorder()
		rec.Code = 200
		rec.Body.WriteString(body)
		return decodeAnswer(t, rec)
	}

	status, body, err := get(bg, subPre+"/ch1,ch1-pnpres/0?uuid=watcher")
	require.NoError(t, err)
	require.Equal(t, 200, status, body)
	tt := decode(body).T.T

	// The watcher's own join, then a hold that runs out.
	_, body, err = get(bg, subPre+"/ch1,ch1-pnpres/0?uuid=watcher&tt="+tt)
	require.NoError(t, err)
	a := decode(body)
	assert.Equal(t, []string{"join watcher"}, actions(a))
	tt = a.T.T
	_, body, err = get(bg, subPre+"/ch1,ch1-pnpres/0?uuid=watcher&tt="+tt)
	require.NoError(t, err)
	assert.Empty(t, decode(body).M)
	assert.Equal(t, tt, decode(body).T.T)

	// A join wakes a waiting call. The hold is short, so poll in a loop.
	got := make(chan subAnswer, 1)
	go func() {
		cur := tt
		for {
			_, body, err := get(bg, subPre+"/ch1-pnpres/0?uuid=watcher&tt="+cur)
			if err != nil {
				close(got)
				return
			}
			a := decode(body)
			if len(a.M) > 0 {
				got <- a
				return
			}
			cur = a.T.T
		}
	}()
	status, body, err = get(bg, pre+"/channel/ch1/heartbeat?uuid=u2")
	require.NoError(t, err)
	require.Equal(t, 200, status, body)
	a, ok := <-got
	require.True(t, ok)
	assert.Equal(t, []string{"join u2"}, actions(a))
}

func TestSubscribeClientGoesOverLoopback(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()
	observed := make(chan int, 4)
	h, err := New(eng, Config{SubscribeHold: time.Hour, Observe: func(ep string, status int, _ time.Duration) {
		if ep == EndpointSubscribe {
			observed <- status
		}
	}})
	require.NoError(t, err)
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, subPre+"/ch1-pnpres/0?uuid=u1", nil))
	tt := decodeAnswer(t, rec).T.T
	<-observed
	ctx, cancel := context.WithCancel(bg)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+subPre+"/ch1,ch1-pnpres/0?uuid=u1&tt="+tt, nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return h.SubscribeStats().Waiting == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.Error(t, <-errc)
	assert.Equal(t, statusClientClosed, <-observed, "released when the connection closes, not after the hold")
	assert.Zero(t, h.SubscribeStats().Waiting)
	chs, err := eng.WhereNow(sk, "u1")
	require.NoError(t, err)
	assert.Empty(t, chs)
}
