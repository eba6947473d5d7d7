package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

func TestGrantTableOverHTTP(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(e *env)
		target string
		status int
		check  func(t *testing.T, e *env)
	}{
		{name: "heartbeat granted", target: pre + "/channel/room.1,lobby/heartbeat?uuid=u1&auth=k1", status: 200,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"lobby", "room.1"}, e.whereNow("u1")) }},
		{name: "heartbeat denied", target: pre + "/channel/room.1,secret,other/heartbeat?uuid=u1&auth=k1", status: 403,
			check: func(t *testing.T, e *env) { assert.Empty(t, e.whereNow("u1"), "nothing applied") }},
		{name: "heartbeat no auth", target: pre + "/channel/public/heartbeat?uuid=u1", status: 200},
		{name: "heartbeat no auth denied", target: pre + "/channel/room.1/heartbeat?uuid=u1", status: 403},
		{name: "heartbeat group covers", setup: func(e *env) { e.group("g", "secret") },
			target: pre + "/channel/,/heartbeat?uuid=u1&auth=k1&channel-group=g", status: 200,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"secret"}, e.whereNow("u1")) }},
		{name: "heartbeat group denied", setup: func(e *env) { e.group("g2", "secret") },
			target: pre + "/channel/room.1,secret/heartbeat?uuid=u1&auth=k1&channel-group=g,g2", status: 403,
			check: func(t *testing.T, e *env) { assert.Empty(t, e.whereNow("u1")) }},
		{name: "leave needs nothing", setup: func(e *env) { e.beat("u1", nil, "secret") },
			target: pre + "/channel/secret/leave?uuid=u1", status: 200,
			check: func(t *testing.T, e *env) { assert.Empty(t, e.whereNow("u1")) }},
		{name: "where now needs nothing", target: pre + "/uuid/u1", status: 200},
		{name: "here now denied", target: pre + "/channel/secret?auth=k1", status: 403},
		{name: "here now global denied", target: pre + "?auth=k1", status: 403},
		{name: "here now global granted", target: pre + "?auth=k2", status: 200},
		{name: "get state denied", target: pre + "/channel/secret/uuid/u1?auth=k1", status: 403},
		{name: "set state denied", setup: func(e *env) { e.beat("u1", nil, "secret") },
			target: pre + "/channel/secret/uuid/u1/data?state=%7B%22a%22%3A1%7D&auth=k1", status: 403,
			check: func(t *testing.T, e *env) { assertState(t, e, "u1", "secret", `{}`) }},
		{name: "group add granted", target: reg + "/admin.1?add=secret&auth=k1", status: 200,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "admin.1", "secret") }},
		{name: "group add denied", target: reg + "/g?add=room.1&auth=k1", status: 403,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g") }},
		{name: "group delete denied", setup: func(e *env) { e.group("g", "a") },
			target: reg + "/g/remove?auth=k1", status: 403,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g", "a") }},
		{name: "group list granted", target: reg + "/g?auth=k1", status: 200},
		{name: "group list denied", target: reg + "/h?auth=k1", status: 403},
		{name: "list groups denied", target: reg + "?auth=k1", status: 403},
		{name: "list groups granted", target: reg + "?auth=k2", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Authorizer: loadTestGrants(t)}, engine.Config{})
			if tc.setup != nil {
				tc.setup(e)
			}
			rec := e.get(tc.target)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			checkCommon(t, rec)
			if tc.status == 403 {
				golden(t, goldenName("auth "+tc.name, ".json"), rec.Body.Bytes())
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// recordingAuthorizer records requests and answers with deny.
type recordingAuthorizer struct {
	mu   sync.Mutex
	reqs []Request
	deny Denied
	err  error
}

func (a *recordingAuthorizer) Authorize(ctx context.Context, r Request) (Denied, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Copy: the handler reuses the slices after Authorize returns.
	r.Channels = slices.Clone(r.Channels)
	r.Groups = slices.Clone(r.Groups)
	a.reqs = append(a.reqs, r)
	return a.deny, a.err
}

func (a *recordingAuthorizer) last(t *testing.T) Request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	require.NotEmpty(t, a.reqs)
	return a.reqs[len(a.reqs)-1]
}

func (a *recordingAuthorizer) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func TestAuthorizerRequests(t *testing.T) {
	a := &recordingAuthorizer{}
	e := newEnv(t, Config{Authorizer: a}, engine.Config{})
	e.group("g1", "c", "b")
	e.group("g2", "a", "d")
	cases := []struct {
		target string
		want   Request
	}{
		{pre + "/channel/a,b,a/heartbeat?uuid=u1&auth=k&channel-group=g1,g2",
			Request{Endpoint: EndpointHeartbeat, SubKey: sk, Auth: "k", UUID: "u1", Op: OpRead,
				Channels: []string{"a", "b", "c", "d"}, FromGroups: 2, Groups: []string{"g1", "g2"}}},
		{pre + "/channel/,/leave?uuid=u1&channel-group=g2",
			Request{Endpoint: EndpointLeave, SubKey: sk, UUID: "u1", Op: OpNone,
				Channels: []string{"a", "d"}, FromGroups: 2, Groups: []string{"g2"}}},
		{pre + "/channel/x",
			Request{Endpoint: EndpointHereNow, SubKey: sk, Op: OpRead, Channels: []string{"x"}}},
		{pre + "?auth=k",
			Request{Endpoint: EndpointHereNowGlobal, SubKey: sk, Auth: "k", Op: OpRead}},
		{pre + "/uuid/u%2F1",
			Request{Endpoint: EndpointWhereNow, SubKey: sk, UUID: "u/1", Op: OpNone}},
		{pre + "/channel/x/uuid/u1?channel-group=g1",
			Request{Endpoint: EndpointGetState, SubKey: sk, UUID: "u1", Op: OpRead,
				Channels: []string{"x", "b", "c"}, FromGroups: 2, Groups: []string{"g1"}}},
		{pre + "/channel/x/uuid/u1/data?state=%7B%7D",
			Request{Endpoint: EndpointSetState, SubKey: sk, UUID: "u1", Op: OpRead, Channels: []string{"x"}}},
		{reg + "/g3?add=p,q",
			Request{Endpoint: EndpointGroupAdd, SubKey: sk, Op: OpManage, Channels: []string{"p", "q"}, Groups: []string{"g3"}}},
		{reg + "/g3?remove=p",
			Request{Endpoint: EndpointGroupRemove, SubKey: sk, Op: OpManage, Channels: []string{"p"}, Groups: []string{"g3"}}},
		{reg + "/g3",
			Request{Endpoint: EndpointGroupList, SubKey: sk, Op: OpRead, Groups: []string{"g3"}}},
		{reg,
			Request{Endpoint: EndpointGroupListGroups, SubKey: sk, Op: OpManage}},
		{reg + "/g3/remove",
			Request{Endpoint: EndpointGroupDelete, SubKey: sk, Op: OpManage, Groups: []string{"g3"}}},
	}
	for _, tc := range cases {
		e.get(tc.target)
		got := a.last(t)
		if len(got.Channels) == 0 {
			got.Channels = nil
		}
		if len(got.Groups) == 0 {
			got.Groups = nil
		}
		assert.Equal(t, tc.want, got, tc.target)
	}

	// Not for /time/0, nor for requests that fail their own checks: the
	// authorizer sees only names the engine accepts.
	n := a.count()
	assert.Equal(t, 200, e.get("/time/0").Code)
	for _, target := range []string{
		pre + "/channel/a%20b/heartbeat?uuid=u1",
		pre + "/channel/a/heartbeat?uuid=",
		pre + "/channel/a/heartbeat?uuid=u1&channel-group=a:b",
		pre + "/channel/a/heartbeat?uuid=u1&heartbeat=x",
		pre + "/uuid/%01",
		"/nope",
	} {
		rec := e.get(target)
		assert.NotEqual(t, 200, rec.Code, target)
	}
	assert.Equal(t, n, a.count())
}

func TestAuthorizerFailures(t *testing.T) {
	a := &recordingAuthorizer{err: errors.New("grant store down")}
	e := newEnv(t, Config{Authorizer: a}, engine.Config{})
	rec := e.get(pre + "/channel/a/heartbeat?uuid=u1")
	assert.Equal(t, 500, rec.Code)
	golden(t, "authorizer_error.json", rec.Body.Bytes())
	assert.Contains(t, e.logged(), "grant store down")
	assert.Contains(t, e.logged(), "level=ERROR")
	assert.Empty(t, e.whereNow("u1"))

	// An authorizer error that wraps an engine error is still the server's.
	a.err = engine.ErrInvalidUUID
	assert.Equal(t, 500, e.get(pre+"/channel/a/heartbeat?uuid=u1").Code)

	// A cancelled request answers 503.
	a.err = context.Canceled
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, pre+"/channel/a/heartbeat?uuid=u1", nil).WithContext(ctx)
	rr := httptest.NewRecorder()
	e.h.ServeHTTP(rr, req)
	assert.Equal(t, 503, rr.Code)

	// A denial that names nothing.
	a.err, a.deny = nil, Denied{All: true}
	rec = e.get(pre + "/channel/a/heartbeat?uuid=u1")
	assert.Equal(t, 403, rec.Code)
	golden(t, "auth_denied_all.json", rec.Body.Bytes())
	assert.Empty(t, e.whereNow("u1"))
}
