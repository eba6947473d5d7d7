package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

// TestEndpointsCallThroughPresence makes each Presence call fail in turn
// and checks that the endpoints using it answer with that failure: every
// endpoint reaches its data through the interface, and a failure of the
// implementation's store is a 503 with a Retry-After that applies nothing.
func TestEndpointsCallThroughPresence(t *testing.T) {
	down := fmt.Errorf("node: %w: nats: no servers available", engine.ErrUnavailable)
	cases := []struct {
		call    call
		targets []string
	}{
		{callHeartbeat, []string{
			pre + "/channel/a/heartbeat?uuid=u",
			"/v2/subscribe/" + sk + "/a/0?uuid=u",
		}},
		{callLeave, []string{pre + "/channel/a/leave?uuid=u"}},
		{callSetState, []string{pre + "/channel/a/uuid/u/data?state=%7B%7D"}},
		{callGetState, []string{pre + "/channel/a/uuid/u"}},
		{callHereNow, []string{pre + "/channel/a", pre}},
		{callWhereNow, []string{pre + "/uuid/u"}},
		{callGroups, []string{reg}},
		{callGroupChannels, []string{reg + "/g", "/v2/subscribe/" + sk + "/,/0?uuid=u&tt=1&channel-group=g-pnpres"}},
		{callAddChannels, []string{reg + "/g?add=a"}},
		{callRemoveChannels, []string{reg + "/g?remove=a"}},
		{callDeleteGroup, []string{reg + "/g/remove"}},
		{callSubscribe, []string{"/v2/subscribe/" + sk + "/a-pnpres/0?uuid=u"}},
	}
	for _, tc := range cases {
		for _, target := range tc.targets {
			t.Run(target, func(t *testing.T) {
				e := newEnv(t, Config{}, engine.Config{})
				e.p.failWith(tc.call, down)
				before := e.p.count(tc.call)
				rec := e.get(target)
				assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
				assert.Equal(t, "1", rec.Header().Get("Retry-After"))
				assert.Contains(t, rec.Body.String(), `"message":"Service Unavailable"`)
				assert.Greater(t, e.p.count(tc.call), before, "the endpoint calls through the interface")
				assert.Contains(t, e.logged(), "no servers available", "the cause is logged")
				assert.Zero(t, e.eng.Stats().Members, "nothing applied")
			})
		}
	}
}

// TestPresenceErrorOtherwiseIs500: an error the handler does not know is the
// implementation's fault, a 500, logged.
func TestPresenceErrorOtherwiseIs500(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	e.p.failWith(callHereNow, errors.New("index corrupt"))
	rec := e.get(pre + "/channel/a")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Empty(t, rec.Header().Get("Retry-After"))
	assert.Contains(t, e.logged(), "index corrupt")
}

// regroup is an Authorizer that records what it is asked and, while it
// decides, adds a channel to a group: the call that follows must act on the
// channels it was asked about, not on the group as it is afterwards.
type regroup struct {
	eng *engine.Engine

	mu    sync.Mutex
	asked [][]string
}

func (a *regroup) Authorize(_ context.Context, r Request) (Denied, error) {
	a.mu.Lock()
	a.asked = append(a.asked, slices.Clone(r.Channels))
	a.mu.Unlock()
	return Denied{}, a.eng.AddChannelsToGroup(sk, "g", "late")
}

func (a *regroup) last() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[len(a.asked)-1]
}

func TestAuthorizerAndCallSeeOneExpansion(t *testing.T) {
	setup := func(t *testing.T) (*env, *regroup) {
		auth := &regroup{}
		e := newEnv(t, Config{Authorizer: auth}, engine.Config{})
		auth.eng = e.eng
		require.NoError(t, e.eng.AddChannelsToGroup(sk, "g", "b", "c"))
		return e, auth
	}
	t.Run("heartbeat", func(t *testing.T) {
		e, auth := setup(t)
		rec := e.get(pre + "/channel/a,b/heartbeat?uuid=u&channel-group=g&state=" + url.QueryEscape(`{"g":{"via":"g"}}`))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"a", "b", "c"}, auth.last())
		assert.Equal(t, []string{"a", "b", "c"}, e.whereNow("u"), "joined exactly what the Authorizer allowed")
		assert.Equal(t, int64(1), e.p.count(callGroupChannels), "the group is read once")
		st, err := e.eng.GetState(engine.GetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"a", "b", "c"}})
		require.NoError(t, err)
		assert.JSONEq(t, `{}`, string(st["b"]), "b is named: the group's state is not its own")
		assert.JSONEq(t, `{"via":"g"}`, string(st["c"]), "c came through g and takes g's state")
	})
	t.Run("leave", func(t *testing.T) {
		e, auth := setup(t)
		e.beat("u", nil, "a", "c", "late")
		rec := e.get(pre + "/channel/a/leave?uuid=u&channel-group=g")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"a", "b", "c"}, auth.last())
		assert.Equal(t, []string{"late"}, e.whereNow("u"), "left exactly what the Authorizer allowed")
	})
	t.Run("here now", func(t *testing.T) {
		e, auth := setup(t)
		e.beat("u", nil, "c", "late")
		rec := e.get(pre + "/channel/,?channel-group=g")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"b", "c"}, auth.last())
		assert.Contains(t, rec.Body.String(), `"c":{`)
		assert.NotContains(t, rec.Body.String(), `"late"`, "a channel the Authorizer was not asked about is not read")
	})
	t.Run("get state", func(t *testing.T) {
		e, auth := setup(t)
		e.beat("u", map[string]string{"late": `{"k":1}`}, "c", "late")
		rec := e.get(pre + "/channel/,/uuid/u?channel-group=g")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"b", "c"}, auth.last())
		assert.JSONEq(t, `{"status":200,"message":"OK","payload":{"channels":{"c":{}}},"uuid":"u","service":"Presence"}`, rec.Body.String())
	})
	t.Run("set state", func(t *testing.T) {
		e, auth := setup(t)
		e.beat("u", nil, "b", "c", "late")
		rec := e.get(pre + "/channel/,/uuid/u/data?channel-group=g&state=" + url.QueryEscape(`{"k":1}`))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"b", "c"}, auth.last())
		st, err := e.eng.GetState(engine.GetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"b", "c", "late"}})
		require.NoError(t, err)
		assert.JSONEq(t, `{"k":1}`, string(st["b"]))
		assert.JSONEq(t, `{"k":1}`, string(st["c"]))
		assert.JSONEq(t, `{}`, string(st["late"]), "state was not set where the Authorizer was not asked")
	})
}

// TestNoAuthorizerNoExpansion: without an Authorizer the handler leaves the
// groups to the implementation, which reads them once itself.
func TestNoAuthorizerNoExpansion(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	require.NoError(t, e.eng.AddChannelsToGroup(sk, "g", "b"))
	rec := e.get(pre + "/channel/a/heartbeat?uuid=u&channel-group=g")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"a", "b"}, e.whereNow("u"))
	assert.Zero(t, e.p.count(callGroupChannels))
}

// TestLongPollMovesItsWriteDeadline serves through a real server whose write
// timeout has passed before any handler writes: an ordinary answer is lost,
// while a subscribe long-poll, which moves its own write deadline past its
// hold, is answered. Nothing depends on the machine's speed.
func TestLongPollMovesItsWriteDeadline(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()
	h, err := New(eng, Config{SubscribeHold: time.Millisecond})
	require.NoError(t, err)
	defer h.Close()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = time.Nanosecond
	srv.Start()
	defer srv.Close()

	get := func(path string) (string, error) {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get(srv.URL + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get("/v2/subscribe/" + sk + "/a-pnpres/0?uuid=u&tt=1")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(body, `{"t":{"t":"`), body)

	_, err = get(pre + "/uuid/u")
	assert.Error(t, err, "an ordinary answer keeps the server's write timeout")
}
