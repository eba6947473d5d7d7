package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

const (
	pre = "/v2/presence/sub-key/" + sk
	reg = "/v1/channel-registration/sub-key/" + sk + "/channel-group"
)

// endpointCase is one request against a fresh engine, its status, its
// endpoint name and its body, which is compared with a golden file.
type endpointCase struct {
	name     string
	ecfg     engine.Config
	setup    func(e *env)
	method   string // GET if empty
	target   string
	status   int
	endpoint string
	check    func(t *testing.T, e *env) // engine state afterwards
}

func runEndpointCases(t *testing.T, cases []endpointCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{}, tc.ecfg)
			if tc.setup != nil {
				tc.setup(e)
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := e.do(method, tc.target)
			assert.Equal(t, tc.status, rec.Code)
			checkCommon(t, rec)
			body := rec.Body.Bytes()
			if !strings.Contains(tc.target, "callback=") {
				assert.True(t, json.Valid(body), "body is not JSON: %s", body)
			}
			golden(t, goldenName(tc.name, ".json"), body)
			if tc.endpoint != "" {
				assert.Equal(t, observation{tc.endpoint, tc.status}, e.lastObserved())
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	present := func(e *env) {
		e.beat("u1", map[string]string{"ch1": `{"mood":"happy"}`}, "ch1", "ch2")
		e.beat("u2", nil, "ch1")
	}
	runEndpointCases(t, []endpointCase{
		{
			name:   "heartbeat",
			target: pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=60",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"ch1"}, e.whereNow("u1")) },
		},
		{
			name:   "heartbeat sub_key",
			target: "/v2/presence/sub_key/" + sk + "/channel/ch1,ch2/heartbeat?uuid=u1",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"ch1", "ch2"}, e.whereNow("u1")) },
		},
		{
			name:   "heartbeat groups only",
			setup:  func(e *env) { e.group("g", "a", "b") },
			target: pre + "/channel/,/heartbeat?uuid=u1&channel-group=g",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"a", "b"}, e.whereNow("u1")) },
		},
		{
			name:   "heartbeat state encoded",
			target: pre + "/channel/ch1/heartbeat?uuid=u1&state=%7B%22ch1%22%3A%7B%22mood%22%3A%22a%26b%20c%22%7D%7D",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assertState(t, e, "u1", "ch1", `{"mood":"a&b c"}`) },
		},
		{
			name:   "heartbeat state raw JSON",
			target: pre + `/channel/ch1/heartbeat?uuid=u1&state={"ch1":{"mood":"a&b=50%","n":1e+5}}&heartbeat=30`,
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assertState(t, e, "u1", "ch1", `{"mood":"a&b=50%","n":1e+5}`) },
		},
		{
			// The Go SDK v4 sends heartbeat=0 with its default configuration.
			name:   "heartbeat timeout zero",
			target: pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=0",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"ch1"}, e.whereNow("u1")) },
		},
		{
			// The JavaScript SDK 12's setState({channels, state, withHeartbeat: true}).
			name:   "heartbeat state unkeyed",
			target: pre + "/channel/ch1,ch2/heartbeat?uuid=u1&heartbeat=20&state=%7B%22role%22%3A%22b%22%7D",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) {
				assertState(t, e, "u1", "ch1", `{"role":"b"}`)
				assertState(t, e, "u1", "ch2", `{"role":"b"}`)
			},
		},
		{
			name:   "heartbeat escaped names",
			target: pre + "/channel/%E2%9C%93,caf%C3%A9,x%2Ey/heartbeat?uuid=u%2F1",
			status: 200, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"café", "x.y", "✓"}, e.whereNow("u/1")) },
		},
		{
			name:   "leave",
			setup:  present,
			target: pre + "/channel/ch1/leave?uuid=u1",
			status: 200, endpoint: EndpointLeave,
			check: func(t *testing.T, e *env) { assert.Equal(t, []string{"ch2"}, e.whereNow("u1")) },
		},
		{
			name:   "leave group",
			setup:  func(e *env) { e.group("g", "ch1", "ch2"); present(e) },
			target: pre + "/channel/,/leave?uuid=u1&channel-group=g",
			status: 200, endpoint: EndpointLeave,
			check: func(t *testing.T, e *env) { assert.Empty(t, e.whereNow("u1")) },
		},
		{
			name:   "leave not present",
			target: pre + "/channel/ch1/leave?uuid=u1",
			status: 200, endpoint: EndpointLeave,
		},
		{name: "here now one channel", setup: present, target: pre + "/channel/ch1", status: 200, endpoint: EndpointHereNow},
		{name: "here now one channel empty", target: pre + "/channel/ch1", status: 200, endpoint: EndpointHereNow},
		{name: "here now one channel state", setup: present, target: pre + "/channel/ch1?state=1", status: 200},
		{name: "here now one channel disable_uuids", setup: present, target: pre + "/channel/ch1?disable_uuids=1", status: 200},
		{name: "here now one channel disable-uuids", setup: present, target: pre + "/channel/ch1?disable-uuids=1&state=1", status: 200},
		{name: "here now one channel uuids=0", setup: present, target: pre + "/channel/ch1?uuids=0", status: 200},
		{name: "here now one channel limit", setup: present, target: pre + "/channel/ch1?limit=1", status: 200},
		{name: "here now one channel limit 0", setup: present, target: pre + "/channel/ch1?limit=0", status: 200},
		{name: "here now one channel offset", setup: present, target: pre + "/channel/ch1?offset=1", status: 200},
		{name: "here now channels", setup: present, target: pre + "/channel/ch1,ch2,ch3", status: 200, endpoint: EndpointHereNow},
		{name: "here now channels state", setup: present, target: pre + "/channel/ch1,ch2?state=1", status: 200},
		{name: "here now channels disable_uuids", setup: present, target: pre + "/channel/ch1,ch2?disable_uuids=1", status: 200},
		{
			name:   "here now group",
			setup:  func(e *env) { e.group("g", "ch2", "ch3"); present(e) },
			target: pre + "/channel/,?channel-group=g", status: 200, endpoint: EndpointHereNow,
		},
		{
			name:   "here now channel and group",
			setup:  func(e *env) { e.group("g", "ch2"); present(e) },
			target: pre + "/channel/ch1?channel-group=g", status: 200,
		},
		{name: "here now global", setup: present, target: pre, status: 200, endpoint: EndpointHereNowGlobal},
		{name: "here now global empty", target: pre, status: 200, endpoint: EndpointHereNowGlobal},
		{name: "here now global disable_uuids", setup: present, target: pre + "?disable_uuids=1", status: 200},
		{name: "here now global sub_key state", setup: present, target: "/v2/presence/sub_key/" + sk + "?state=1", status: 200},
		{name: "where now", setup: present, target: pre + "/uuid/u1", status: 200, endpoint: EndpointWhereNow},
		{name: "where now none", target: pre + "/uuid/u1", status: 200, endpoint: EndpointWhereNow},
		{
			name:   "where now escaped uuid",
			setup:  func(e *env) { e.beat("a/b,c", nil, "ch1") },
			target: pre + "/uuid/a%2Fb%2Cc", status: 200,
		},
		{name: "get state one channel", setup: present, target: pre + "/channel/ch1/uuid/u1", status: 200, endpoint: EndpointGetState},
		{name: "get state one channel none", setup: present, target: pre + "/channel/ch2/uuid/u1", status: 200},
		{name: "get state one channel absent", target: pre + "/channel/ch1/uuid/u1", status: 200},
		{name: "get state channels", setup: present, target: pre + "/channel/ch1,ch2,ch3/uuid/u1", status: 200},
		{
			name:   "get state group",
			setup:  func(e *env) { e.group("g", "ch2"); present(e) },
			target: pre + "/channel/,/uuid/u1?channel-group=g", status: 200,
		},
		{
			name:   "get state empty channel-group",
			setup:  present,
			target: pre + "/channel/ch1/uuid/u1?channel-group=", status: 200,
		},
		{
			name:   "set state",
			setup:  present,
			target: pre + "/channel/ch1,ch2/uuid/u1/data?state=%7B%22a%22%3A%201%7D",
			status: 200, endpoint: EndpointSetState,
			check: func(t *testing.T, e *env) {
				assertState(t, e, "u1", "ch1", `{"a":1}`)
				assertState(t, e, "u1", "ch2", `{"a":1}`)
			},
		},
		{
			name:   "set state raw JSON",
			setup:  present,
			target: pre + `/channel/ch1/uuid/u1/data?state={"a":"x&y"}`,
			status: 200,
			check:  func(t *testing.T, e *env) { assertState(t, e, "u1", "ch1", `{"a":"x&y"}`) },
		},
		{
			name:   "set state clear",
			setup:  present,
			target: pre + "/channel/ch1/uuid/u1/data?state=%7B%7D",
			status: 200,
			check:  func(t *testing.T, e *env) { assertState(t, e, "u1", "ch1", `{}`) },
		},
		{
			name:   "channel group add",
			target: reg + "/g?add=a,b",
			status: 200, endpoint: EndpointGroupAdd,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g", "a", "b") },
		},
		{
			name:   "channel group add encoded",
			target: reg + "/g?add=a%2Cb",
			status: 200, endpoint: EndpointGroupAdd,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g", "a", "b") },
		},
		{
			name:   "channel group remove",
			setup:  func(e *env) { e.group("g", "a", "b") },
			target: reg + "/g?remove=a",
			status: 200, endpoint: EndpointGroupRemove,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g", "b") },
		},
		{
			name:   "channel group list",
			setup:  func(e *env) { e.group("g", "b", "a") },
			target: reg + "/g",
			status: 200, endpoint: EndpointGroupList,
		},
		{name: "channel group list empty", target: reg + "/g", status: 200, endpoint: EndpointGroupList},
		{
			name:   "channel group list groups",
			setup:  func(e *env) { e.group("g2", "a"); e.group("g1", "a") },
			target: reg, status: 200, endpoint: EndpointGroupListGroups,
		},
		{
			name:   "channel group list groups sub_key",
			setup:  func(e *env) { e.group("g1", "a") },
			target: "/v1/channel-registration/sub_key/" + sk + "/channel-group", status: 200,
		},
		{
			name:   "channel group delete",
			setup:  func(e *env) { e.group("g", "a") },
			target: reg + "/g/remove", status: 200, endpoint: EndpointGroupDelete,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g") },
		},
		{name: "time", target: "/time/0", status: 200, endpoint: EndpointTime},
	})
}

func assertState(t *testing.T, e *env, uuid, ch, want string) {
	t.Helper()
	got, err := e.eng.GetState(engine.GetStateRequest{SubKey: sk, UUID: uuid, Channels: []string{ch}})
	require.NoError(t, err)
	require.Contains(t, got, ch)
	assert.JSONEq(t, want, string(got[ch]))
}

func assertGroup(t *testing.T, e *env, g string, want ...string) {
	t.Helper()
	got, err := e.eng.GroupChannels(sk, g)
	require.NoError(t, err)
	if want == nil {
		want = []string{}
	}
	assert.Equal(t, want, got)
}

func TestErrors(t *testing.T) {
	present := func(e *env) { e.beat("u1", nil, "ch1") }
	runEndpointCases(t, []endpointCase{
		{name: "not found", target: "/v2/presence/nope", status: 404, endpoint: EndpointNotFound},
		{name: "not found root", target: "/", status: 404, endpoint: EndpointNotFound},
		{name: "not found trailing segment", target: pre + "/channel/ch1/heartbeat/x?uuid=u", status: 404},
		{name: "not found escaped", target: "/v2/pres%20ence?x=%22", status: 404},
		{name: "method not allowed", method: http.MethodPost, target: pre + "/channel/ch1/heartbeat?uuid=u1", status: 405, endpoint: EndpointMethodNotAllowed},
		{name: "invalid callback", target: pre + "/channel/ch1/heartbeat?uuid=u1&callback=alert(1)", status: 400, endpoint: EndpointHeartbeat},
		{name: "bad escape in query", target: pre + "/channel/ch1/heartbeat?uuid=%zz", status: 400},
		{name: "empty sub key", target: "/v2/presence/sub-key//channel/ch1/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat no uuid", target: pre + "/channel/ch1/heartbeat", status: 400, endpoint: EndpointHeartbeat},
		{name: "heartbeat blank uuid", target: pre + "/channel/ch1/heartbeat?uuid=%20%20", status: 400},
		{name: "heartbeat long uuid", target: pre + "/channel/ch1/heartbeat?uuid=" + strings.Repeat("u", 93), status: 400},
		{name: "heartbeat invalid channel", target: pre + "/channel/a%20b/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat escaped comma", target: pre + "/channel/a%2Cb,c/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat escaped slash", target: pre + "/channel/a%2Fb/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat reserved channel", target: pre + "/channel/a-pnpres/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat empty name", target: pre + "/channel/a,,b/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat trailing comma", target: pre + "/channel/a,/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat no channels", target: pre + "/channel/,/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat invalid group", target: pre + "/channel/,/heartbeat?uuid=u1&channel-group=a:b", status: 400},
		{name: "heartbeat too many channels", ecfg: engine.Config{MaxChannelsPerCall: 2}, target: pre + "/channel/a,b,c/heartbeat?uuid=u1", status: 400},
		{name: "heartbeat timeout not a number", target: pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=abc", status: 400},
		{name: "heartbeat timeout negative", target: pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=-5", status: 400},
		{name: "heartbeat state invalid JSON", target: pre + `/channel/ch1/heartbeat?uuid=u1&state={"ch1":{"a":}}`, status: 400},
		{name: "heartbeat state not object", target: pre + "/channel/ch1/heartbeat?uuid=u1&state=%5B1%5D", status: 400},
		{name: "heartbeat state value not object", target: pre + "/channel/ch1/heartbeat?uuid=u1&state=%7B%22ch1%22%3A1%7D", status: 400},
		{name: "heartbeat state too large", ecfg: engine.Config{MaxStateBytes: 8}, target: pre + "/channel/ch1/heartbeat?uuid=u1&state=%7B%22ch1%22%3A%7B%22a%22%3A%22123456%22%7D%7D", status: 400},
		{name: "leave no uuid", target: pre + "/channel/ch1/leave", status: 400, endpoint: EndpointLeave},
		{name: "here now no channels", target: pre + "/channel/,", status: 400, endpoint: EndpointHereNow},
		{name: "here now limit too large", target: pre + "/channel/ch1?limit=1001", status: 400},
		{name: "here now limit not a number", target: pre + "/channel/ch1?limit=x", status: 400},
		{name: "here now offset negative", target: pre + "/channel/ch1?offset=-1", status: 400},
		{name: "where now invalid uuid", target: pre + "/uuid/%01", status: 400, endpoint: EndpointWhereNow},
		{name: "get state invalid channel", target: pre + "/channel/a*b/uuid/u1", status: 400, endpoint: EndpointGetState},
		{name: "set state missing", setup: present, target: pre + "/channel/ch1/uuid/u1/data", status: 400, endpoint: EndpointSetState},
		{name: "set state empty", setup: present, target: pre + "/channel/ch1/uuid/u1/data?state=", status: 400},
		{name: "set state not present", setup: present, target: pre + "/channel/ch1,ch2,ch3/uuid/u1/data?state=%7B%7D", status: 400},
		{name: "set state not object", setup: present, target: pre + "/channel/ch1/uuid/u1/data?state=42", status: 400},
		{name: "set state invalid JSON", setup: present, target: pre + "/channel/ch1/uuid/u1/data?state=%7Bx", status: 400},
		{
			name: "channel group full", ecfg: engine.Config{MaxGroupChannels: 2},
			setup:  func(e *env) { e.group("g", "a", "b") },
			target: reg + "/g?add=c", status: 400, endpoint: EndpointGroupAdd,
			check: func(t *testing.T, e *env) { assertGroup(t, e, "g", "a", "b") },
		},
		{name: "channel group add too many", ecfg: engine.Config{MaxGroupChannels: 2}, target: reg + "/g?add=a,b,c", status: 400},
		{name: "channel group add and remove", target: reg + "/g?add=a&remove=b", status: 400},
		{name: "channel group add nothing", target: reg + "/g?add=", status: 400},
		{name: "channel group add invalid channel", target: reg + "/g?add=a:b", status: 400},
		{name: "channel group invalid name", target: reg + "/a%20b", status: 400, endpoint: EndpointGroupList},
		{name: "channel group delete invalid name", target: reg + "/a-pnpres/remove", status: 400, endpoint: EndpointGroupDelete},
		{
			name: "capacity", ecfg: engine.Config{MaxMembers: 1}, setup: present,
			target: pre + "/channel/ch2/heartbeat?uuid=u2", status: 503, endpoint: EndpointHeartbeat,
			check: func(t *testing.T, e *env) { assert.Empty(t, e.whereNow("u2")) },
		},
	})
}

func TestCapacityRetryAfter(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{MaxMembers: 1})
	e.beat("u1", nil, "ch1")
	rec := e.get(pre + "/channel/ch2/heartbeat?uuid=u2")
	assert.Equal(t, 503, rec.Code)
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	assert.Contains(t, e.logged(), "member capacity reached")
	assert.Contains(t, e.logged(), "level=WARN")
}

func TestEngineClosed(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	require.NoError(t, e.eng.Close())
	rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u1")
	assert.Equal(t, 503, rec.Code)
	assert.Empty(t, rec.Header().Get("Retry-After"))
	golden(t, "engine_closed.json", rec.Body.Bytes())
	assert.Contains(t, e.logged(), "engine closed")

	// /time/0 does not need the engine.
	assert.Equal(t, 200, e.get("/time/0").Code)
}

func TestURITooLong(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	long := pre + "/channel/ch1/heartbeat?uuid=u1&pad=" + strings.Repeat("x", MaxRequestURI)
	rec := e.get(long)
	assert.Equal(t, 414, rec.Code)
	checkCommon(t, rec)
	golden(t, "uri_too_long.json", rec.Body.Bytes())
	assert.Equal(t, observation{EndpointURITooLong, 414}, e.lastObserved())
	assert.Empty(t, e.whereNow("u1"))

	// Exactly at the limit is served.
	target := pre + "/channel/ch1/heartbeat?uuid=u1&pad="
	target += strings.Repeat("x", MaxRequestURI-len(target))
	require.Len(t, target, MaxRequestURI)
	assert.Equal(t, 200, e.get(target).Code)

	// A request built by hand, without RequestURI, is measured too.
	req, err := http.NewRequest(http.MethodGet, long, nil)
	require.NoError(t, err)
	rr := newRecorder()
	e.h.ServeHTTP(rr, req)
	assert.Equal(t, 414, rr.status)
}

func TestTimeUsesClock(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	rec := e.get("/time/0")
	var tt []int64
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tt))
	require.Len(t, tt, 1)
	assert.Equal(t, fixedNow.UnixNano()/100, tt[0])
	assert.Len(t, strings.Trim(rec.Body.String(), "[]"), 17)
}

func TestLogsOnlyServerErrors(t *testing.T) {
	e := newEnv(t, Config{}, engine.Config{})
	e.get(pre + "/channel/a%20b/heartbeat?uuid=u1")
	e.get("/nope")
	e.get(pre + "/channel/ch1/heartbeat?uuid=u1")
	assert.Empty(t, e.logged())
}
