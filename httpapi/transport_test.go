package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

func TestJSONP(t *testing.T) {
	cases := []struct {
		name, target string
		status       int
	}{
		{"jsonp heartbeat", pre + "/channel/ch1/heartbeat?uuid=u1&callback=a.b_c$1", 200},
		{"jsonp here now", pre + "/channel/ch1?callback=cb", 200},
		{"jsonp error", pre + "/channel/ch1/heartbeat?callback=cb", 400},
		{"jsonp not found", "/nope?callback=cb", 404},
		{"jsonp time path", "/time/fn", 200},
		{"jsonp time query", "/time/0?callback=_f", 200},
		{"jsonp channel group", reg + "/g?add=a&callback=$", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{}, engine.Config{})
			rec := e.get(tc.target)
			assert.Equal(t, tc.status, rec.Code)
			checkCommon(t, rec)
			assert.Equal(t, rec.Body.Len(), int(mustAtoi(t, rec.Header().Get("Content-Length"))))
			golden(t, goldenName(tc.name, ".js"), rec.Body.Bytes())
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, ok := atoi(s, 1<<30)
	require.True(t, ok, "%q", s)
	return n
}

func TestJSONPRejectsNonIdentifiers(t *testing.T) {
	bad := []string{
		"alert(1)", "a..b", "1a", "a.", ".a", "a-b", "a b", "a[0]", "a;b", "</script>",
		"a.1b", "é", "a\u2028", strings.Repeat("a", maxCallback+1),
	}
	e := newEnv(t, Config{}, engine.Config{})
	for _, cb := range bad {
		t.Run(cb, func(t *testing.T) {
			rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u1&callback=" + url.QueryEscape(cb))
			assert.Equal(t, 400, rec.Code)
			assert.True(t, strings.HasPrefix(rec.Body.String(), "{"), "not wrapped: %s", rec.Body)
			assert.Contains(t, rec.Body.String(), "Invalid callback")
			assert.Empty(t, e.whereNow("u1"))
		})
	}
	rec := e.get("/time/a(b)")
	assert.Equal(t, 400, rec.Code)

	good := []string{"a", "$", "_", "a.b", "a.b_c$1", "$.x9", strings.Repeat("a", maxCallback)}
	for _, cb := range good {
		assert.True(t, validCallback(cb), cb)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	for _, target := range []string{pre + "/channel/ch1/heartbeat?uuid=u1", pre + "/channel/ch1", "/nope", pre + "/channel/a%20b/heartbeat?uuid=u1"} {
		checkCommon(t, e.get(target))
	}

	req := httptest.NewRequest(http.MethodOptions, pre+"/channel/ch1/heartbeat?uuid=u9", nil)
	req.Header.Set("Origin", "https://example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "x-custom, content-type")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	assert.Equal(t, 200, rec.Code)
	checkCommon(t, rec)
	assert.Equal(t, "x-custom, content-type", rec.Header().Get("Access-Control-Allow-Headers"))
	assert.Equal(t, "86400", rec.Header().Get("Access-Control-Max-Age"))
	assert.Empty(t, rec.Body.String())
	assert.Equal(t, observation{EndpointOptions, 200}, e.lastObserved())
	assert.Empty(t, e.whereNow("u9"), "a preflight applies nothing")

	// Preflight works on any path.
	rec = e.do(http.MethodOptions, "/anything")
	assert.Equal(t, 200, rec.Code)
}

func TestMethods(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	rec := e.do(http.MethodHead, pre+"/channel/ch1/heartbeat?uuid=u1")
	assert.Equal(t, 200, rec.Code)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		rec := e.do(m, pre+"/channel/ch2/heartbeat?uuid=u1")
		assert.Equal(t, 405, rec.Code, m)
		assert.Equal(t, "OPTIONS, GET", rec.Header().Get("Allow"))
		checkCommon(t, rec)
	}
	assert.Equal(t, []string{"ch1"}, e.whereNow("u1"))
	// An unknown path is 404 whatever the method.
	assert.Equal(t, 404, e.do(http.MethodPost, "/nope").Code)
}

func TestObserve(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	e.group("g", "a")
	requests := []struct {
		target string
		want   observation
	}{
		{pre + "/channel/ch1/heartbeat?uuid=u1", observation{EndpointHeartbeat, 200}},
		{pre + "/channel/ch1/leave?uuid=u1", observation{EndpointLeave, 200}},
		{pre + "/channel/ch1", observation{EndpointHereNow, 200}},
		{pre, observation{EndpointHereNowGlobal, 200}},
		{pre + "/uuid/u1", observation{EndpointWhereNow, 200}},
		{pre + "/channel/ch1/uuid/u1/data?state=%7B%7D", observation{EndpointSetState, 400}},
		{pre + "/channel/ch1/uuid/u1", observation{EndpointGetState, 200}},
		{reg + "/g?add=b", observation{EndpointGroupAdd, 200}},
		{reg + "/g?remove=b", observation{EndpointGroupRemove, 200}},
		{reg + "/g", observation{EndpointGroupList, 200}},
		{reg, observation{EndpointGroupListGroups, 200}},
		{reg + "/g/remove", observation{EndpointGroupDelete, 200}},
		{"/time/0", observation{EndpointTime, 200}},
		{"/v2/nope", observation{EndpointNotFound, 404}},
	}
	for _, r := range requests {
		e.get(r.target)
		assert.Equal(t, r.want, e.lastObserved(), r.target)
	}
	e.mu.Lock()
	assert.Len(t, e.observed, len(requests), "one observation per request")
	e.mu.Unlock()
}

func TestNewValidatesConfig(t *testing.T) {
	eng, err := engine.New(engine.Config{})
	require.NoError(t, err)
	defer eng.Close()

	cases := []struct {
		name string
		eng  *engine.Engine
		keys []Key
		want string
	}{
		{"nil engine", nil, nil, "nil engine"},
		{"empty sub key", eng, []Key{{SubKey: ""}}, `Keys[0]: sub key "" is empty`},
		{"duplicate", eng, []Key{{SubKey: "a"}, {SubKey: "b"}, {SubKey: "a"}}, `Keys[2]: sub key "a" is listed twice`},
		{"slash", eng, []Key{{SubKey: "a/b"}}, `contains '/'`},
		{"space", eng, []Key{{SubKey: "a b"}}, `contains ' '`},
		{"too long", eng, []Key{{SubKey: strings.Repeat("k", engine.MaxSubKeyBytes+1)}}, "is longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(tc.eng, Config{Keys: tc.keys})
			assert.Nil(t, h)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	keys := []Key{{SubKey: "a"}}
	h, err := New(eng, Config{Keys: keys})
	require.NoError(t, err)
	keys[0].SubKey = "changed" // the handler keeps its own copy
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/presence/sub-key/a/uuid/u1", nil))
	assert.Equal(t, 200, rec.Code)
}

func TestKeys(t *testing.T) {
	e := newEnv(t, Config{Keys: []Key{{SubKey: sk}, {SubKey: "sub-c-other"}}}, engine.Config{})
	assert.Equal(t, 200, e.get(pre+"/channel/ch1/heartbeat?uuid=u1").Code)
	assert.Equal(t, 200, e.get("/v2/presence/sub-key/sub-c-other/channel/ch1/heartbeat?uuid=u1").Code)

	rec := e.get("/v2/presence/sub-key/sub-c-unknown/channel/ch1/heartbeat?uuid=u1")
	assert.Equal(t, 400, rec.Code)
	golden(t, "invalid_subscribe_key.json", rec.Body.Bytes())
	rec = e.get("/v1/channel-registration/sub-key/sub-c-unknown/channel-group")
	assert.Equal(t, 400, rec.Code)
	golden(t, "invalid_subscribe_key_registry.json", rec.Body.Bytes())

	// Sub keys are separate keyspaces.
	chs, err := e.eng.WhereNow("sub-c-other", "u1")
	require.NoError(t, err)
	assert.Equal(t, []string{"ch1"}, chs)
	chs, err = e.eng.WhereNow("sub-c-unknown", "u1")
	require.NoError(t, err)
	assert.Empty(t, chs)
}
