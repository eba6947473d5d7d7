package httpapi

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

// snapshot is everything a request could change, as the engine tells it.
type snapshot struct {
	HereNow engine.HereNowResult
	Where   []string
	Groups  map[string][]string
	Stats   engine.Stats
}

func takeSnapshot(t *testing.T, e *env, subKeys ...string) []snapshot {
	t.Helper()
	var out []snapshot
	for _, k := range subKeys {
		var s snapshot
		var err error
		s.HereNow, err = e.eng.HereNow(engine.HereNowRequest{SubKey: k, State: true})
		require.NoError(t, err)
		s.Where, err = e.eng.WhereNow(k, "u1")
		require.NoError(t, err)
		groups, err := e.eng.Groups(k)
		require.NoError(t, err)
		s.Groups = map[string][]string{}
		for _, g := range groups {
			s.Groups[g], err = e.eng.GroupChannels(k, g)
			require.NoError(t, err)
		}
		s.Stats = e.eng.Stats() // rejected heartbeats are not counted either
		out = append(out, s)
	}
	return out
}

// TestHostileRequests sends malformed and hostile requests and checks that
// each gets the status and message the package documents, and that none of
// them changes anything.
func TestHostileRequests(t *testing.T) {
	const signedKey = "sub-c-signed"
	grants := Grants{sk: {
		"*":   {Channels: map[string]string{"lobby": "rw", "room.*": "rw"}, Groups: map[string]string{"g.*": "rwm"}},
		"vip": {Channels: map[string]string{"vault": "rw"}},
	}}
	table, err := NewGrantTable(grants)
	require.NoError(t, err)
	e := newEnv(t, Config{
		Keys:       []Key{{SubKey: sk}, {SubKey: signedKey, PubKey: pubKey, SecretKey: secretKey}},
		Authorizer: table,
	}, engine.Config{MaxStateBytes: 1024, MaxGroupChannels: 3})
	e.beat("u1", map[string]string{"lobby": `{"mood":"ok"}`}, "lobby", "room.1")
	e.group("g.1", "room.1")
	_, err = e.eng.Heartbeat(bg, engine.HeartbeatRequest{SubKey: signedKey, UUID: "u1", Channels: []string{"lobby"}})
	require.NoError(t, err)
	before := takeSnapshot(t, e, sk, signedKey)

	hb := pre + "/channel/lobby/heartbeat?uuid=u2"
	spre := "/v2/presence/sub-key/" + signedKey
	signed := func(path string, params url.Values, at time.Time) string {
		return signedTarget(path, params, "", at)
	}
	deep := `{"lobby":{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}}`
	cases := []struct {
		name, target string
		method       string
		status       int
		msg          string // a substring of the error message
	}{
		// uuids
		{name: "uuid missing", target: pre + "/channel/lobby/heartbeat", status: 400, msg: "uuid"},
		{name: "uuid empty", target: pre + "/channel/lobby/heartbeat?uuid=", status: 400, msg: "uuid"},
		{name: "uuid blank", target: pre + "/channel/lobby/heartbeat?uuid=%20%20", status: 400, msg: "is blank"},
		{name: "uuid too long", target: pre + "/channel/lobby/heartbeat?uuid=" + strings.Repeat("x", 93), status: 400, msg: "longer than 92"},
		{name: "uuid invalid UTF-8", target: pre + "/channel/lobby/heartbeat?uuid=a%FFb", status: 400, msg: "UTF-8"},
		{name: "uuid NUL", target: pre + "/channel/lobby/heartbeat?uuid=a%00b", status: 400, msg: "control"},
		{name: "uuid newline", target: pre + "/channel/lobby/heartbeat?uuid=a%0Ab", status: 400, msg: "control"},
		{name: "uuid C1 control", target: pre + "/channel/lobby/heartbeat?uuid=a%C2%85b", status: 400, msg: "control"},
		{name: "uuid duplicated, first empty", target: pre + "/channel/lobby/heartbeat?uuid=&uuid=u9", status: 400, msg: "uuid"},
		{name: "where now uuid control", target: pre + "/uuid/%01", status: 400, msg: "control"},
		{name: "leave uuid too long", target: pre + "/channel/lobby/leave?uuid=" + strings.Repeat("é", 93), status: 400, msg: "longer than 92"},
		// channel and group names
		{name: "channel space", target: pre + "/channel/a%20b/heartbeat?uuid=u2", status: 400, msg: "space"},
		{name: "channel colon", target: pre + "/channel/a:b/heartbeat?uuid=u2", status: 400, msg: `':'`},
		{name: "channel star", target: pre + "/channel/room.*/heartbeat?uuid=u2", status: 400, msg: `'*'`},
		{name: "channel escaped slash", target: pre + "/channel/a%2Fb/heartbeat?uuid=u2", status: 400, msg: `'/'`},
		{name: "channel backslash", target: pre + "/channel/a%5Cb/heartbeat?uuid=u2", status: 400, msg: `'\\'`},
		{name: "channel escaped comma", target: pre + "/channel/a%2Cb/heartbeat?uuid=u2", status: 400, msg: `','`},
		{name: "channel NUL", target: pre + "/channel/a%00b/heartbeat?uuid=u2", status: 400, msg: "control"},
		{name: "channel invalid UTF-8", target: pre + "/channel/%FF/heartbeat?uuid=u2", status: 400, msg: "UTF-8"},
		{name: "channel too long", target: pre + "/channel/" + strings.Repeat("c", 93) + "/heartbeat?uuid=u2", status: 400, msg: "longer than 92"},
		{name: "channel reserved", target: pre + "/channel/lobby-pnpres/heartbeat?uuid=u2", status: 400, msg: "-pnpres"},
		{name: "channel list empty name", target: pre + "/channel/lobby,,room.1/heartbeat?uuid=u2", status: 400, msg: "empty"},
		{name: "channel list trailing comma", target: pre + "/channel/lobby,/heartbeat?uuid=u2", status: 400, msg: "empty"},
		{name: "no channels and no groups", target: pre + "/channel/,/heartbeat?uuid=u2", status: 400, msg: "channel"},
		{name: "group reserved", target: pre + "/channel/,/heartbeat?uuid=u2&channel-group=g.1-pnpres", status: 400, msg: "-pnpres"},
		{name: "group colon", target: pre + "/channel/,/heartbeat?uuid=u2&channel-group=g:1", status: 400, msg: `':'`},
		{name: "group list empty name", target: pre + "/channel/,/heartbeat?uuid=u2&channel-group=g.1,,g.2", status: 400, msg: "empty"},
		// heartbeat timeout
		{name: "heartbeat not a number", target: hb + "&heartbeat=abc", status: 400, msg: "heartbeat"},
		{name: "heartbeat blank", target: hb + "&heartbeat=%20", status: 400, msg: "heartbeat"},
		{name: "heartbeat negative", target: hb + "&heartbeat=-1", status: 400, msg: "heartbeat"},
		{name: "heartbeat fraction", target: hb + "&heartbeat=1.5", status: 400, msg: "heartbeat"},
		{name: "heartbeat hex", target: hb + "&heartbeat=0x1e", status: 400, msg: "heartbeat"},
		{name: "heartbeat with sign", target: hb + "&heartbeat=%2B30", status: 400, msg: "heartbeat"},
		{name: "heartbeat duplicated, first bad", target: hb + "&heartbeat=abc&heartbeat=60", status: 400, msg: "heartbeat"},
		// state
		{name: "state not JSON", target: hb + "&state=abc", status: 400, msg: "state"},
		{name: "state invalid JSON", target: hb + `&state={"lobby":{"a":}}`, status: 400, msg: "invalid JSON"},
		{name: "state array", target: hb + "&state=%5B1%5D", status: 400, msg: "state"},
		{name: "state value not object", target: hb + "&state=%7B%22lobby%22%3A1%7D", status: 400, msg: "not a JSON object"},
		{name: "state value string", target: hb + "&state=%7B%22lobby%22%3A%22x%22%7D", status: 400, msg: "not a JSON object"},
		{name: "state too large", target: hb + "&state=" + url.QueryEscape(`{"lobby":{"a":"`+strings.Repeat("x", 1100)+`"}}`), status: 400, msg: "at most 1024"},
		{name: "state unkeyed too large", target: hb + "&state=" + url.QueryEscape(`{"a":"`+strings.Repeat("x", 1100)+`"}`), status: 400, msg: "at most 1024"},
		{name: "state unkeyed invalid UTF-8", target: hb + "&state=%7B%22a%22%3A%22%FF%22%7D", status: 400, msg: "UTF-8"},
		{name: "state nested over the limit", target: hb + "&state=" + url.QueryEscape(deep), status: 400, msg: "at most 1024"},
		{name: "state invalid UTF-8", target: hb + "&state=%7B%22lobby%22%3A%7B%22a%22%3A%22%FF%22%7D%7D", status: 400, msg: "UTF-8"},
		{name: "state double-encoded", target: hb + "&state=" + url.QueryEscape(url.QueryEscape(`{"lobby":{}}`)), status: 400, msg: "state"},
		{name: "set state missing", target: pre + "/channel/lobby/uuid/u1/data", status: 400, msg: "No state specified."},
		{name: "set state empty", target: pre + "/channel/lobby/uuid/u1/data?state=", status: 400, msg: "No state specified."},
		{name: "set state not present", target: pre + "/channel/lobby,room.2/uuid/u1/data?state=%7B%7D", status: 400, msg: "room.2"},
		{name: "set state not object", target: pre + "/channel/lobby/uuid/u1/data?state=42", status: 400, msg: "not a JSON object"},
		{name: "set state invalid JSON", target: pre + "/channel/lobby/uuid/u1/data?state=%7Bx", status: 400, msg: "not valid JSON"},
		{name: "get state invalid channel", target: pre + "/channel/a*b/uuid/u1", status: 400, msg: `'*'`},
		// paging
		{name: "limit too large", target: pre + "/channel/lobby?limit=1001", status: 400, msg: "limit"},
		{name: "limit negative", target: pre + "/channel/lobby?limit=-1", status: 400, msg: "limit"},
		{name: "limit not a number", target: pre + "/channel/lobby?limit=ten", status: 400, msg: "limit"},
		{name: "offset negative", target: pre + "/channel/lobby?offset=-1", status: 400, msg: "offset"},
		{name: "offset not a number", target: pre + "/channel/lobby?offset=1e3", status: 400, msg: "offset"},
		// JSONP callbacks
		{name: "callback with a call", target: hb + "&callback=alert(1)", status: 400, msg: "callback"},
		{name: "callback with a script tag", target: hb + "&callback=%3Cscript%3E", status: 400, msg: "callback"},
		{name: "callback with a space", target: hb + "&callback=a%20b", status: 400, msg: "callback"},
		{name: "callback with a semicolon", target: hb + "&callback=a;b", status: 400, msg: "callback"},
		{name: "callback too long", target: hb + "&callback=" + strings.Repeat("a", 300), status: 400, msg: "callback"},
		// keys, signatures, grants
		{name: "unknown sub key", target: "/v2/presence/sub-key/sub-c-nope/channel/lobby/heartbeat?uuid=u2", status: 400, msg: "Invalid Subscribe Key"},
		{name: "unknown sub_key", target: "/v2/presence/sub_key/sub-c-nope/channel/lobby/heartbeat?uuid=u2", status: 400, msg: "Invalid Subscribe Key"},
		{name: "empty sub key", target: "/v2/presence/sub-key//channel/lobby/heartbeat?uuid=u2", status: 400, msg: "Invalid Subscribe Key"},
		{name: "signature missing", target: spre + "/channel/lobby/heartbeat?uuid=u2&timestamp=" + itoa(fixedNow.Unix()), status: 403, msg: "Signature does not match"},
		{name: "signature wrong", target: spre + "/channel/lobby/heartbeat?uuid=u2&timestamp=" + itoa(fixedNow.Unix()) + "&signature=v2.AAAA", status: 403, msg: "Signature does not match"},
		{name: "signature stale", target: signed(spre+"/channel/lobby/heartbeat", url.Values{"uuid": {"u2"}}, fixedNow.Add(-2*time.Minute)), status: 403, msg: "Signature does not match"},
		{name: "signature from the future", target: signed(spre+"/channel/lobby/heartbeat", url.Values{"uuid": {"u2"}}, fixedNow.Add(2*time.Minute)), status: 403, msg: "Signature does not match"},
		{name: "signature for another path", target: strings.Replace(signed(spre+"/channel/lobby/heartbeat", url.Values{"uuid": {"u2"}}, fixedNow), "/lobby/", "/room.1/", 1), status: 403, msg: "Signature does not match"},
		{name: "signature for another uuid", target: strings.Replace(signed(spre+"/channel/lobby/heartbeat", url.Values{"uuid": {"u2"}}, fixedNow), "uuid=u2", "uuid=u3", 1), status: 403, msg: "Signature does not match"},
		{name: "timestamp not a number", target: spre + "/channel/lobby/heartbeat?uuid=u2&timestamp=soon&signature=v2.AAAA", status: 403, msg: "Signature does not match"},
		{name: "auth denied channel", target: pre + "/channel/vault/heartbeat?uuid=u2", status: 403, msg: "Forbidden"},
		{name: "auth wrong key", target: pre + "/channel/vault/heartbeat?uuid=u2&auth=nobody", status: 403, msg: "Forbidden"},
		{name: "auth denied among granted", target: pre + "/channel/lobby,vault,room.1/heartbeat?uuid=u2", status: 403, msg: "vault"},
		{name: "auth denied group", target: pre + "/channel/,/heartbeat?uuid=u2&channel-group=secret", status: 403, msg: "Forbidden"},
		{name: "auth denied set state", target: pre + "/channel/vault/uuid/u1/data?state=%7B%7D", status: 403, msg: "Forbidden"},
		{name: "auth denied group add", target: reg + "/secret?add=lobby", status: 403, msg: "Forbidden"},
		// channel registration
		{name: "group add invalid channel", target: reg + "/g.1?add=a:b", status: 400, msg: `':'`},
		{name: "group add reserved channel", target: reg + "/g.1?add=x-pnpres", status: 400, msg: "-pnpres"},
		{name: "group add and remove", target: reg + "/g.1?add=a&remove=b", status: 400, msg: "add"},
		{name: "group add nothing", target: reg + "/g.1?add=", status: 400, msg: "add"},
		{name: "group name with space", target: reg + "/g%20x?add=lobby", status: 400, msg: "space"},
		{name: "group full", target: reg + "/g.1?add=a,b,c", status: 400, msg: "Maximum channel group count exceeded."},
		// transport
		{name: "URI over 32 KiB", target: hb + "&pad=" + strings.Repeat("p", MaxRequestURI), status: 414, msg: "Request URI Too Long"},
		{name: "bad escape in query", target: pre + "/channel/lobby/heartbeat?uuid=%zz", status: 400, msg: "uuid"},
		{name: "unknown path", target: "/v2/presence/sub-key/" + sk + "/nothing/here", status: 404, msg: "Not found"},
		{name: "path traversal", target: pre + "/channel/../../../etc/passwd", status: 404, msg: "Not found"},
		{name: "POST", method: "POST", target: hb, status: 405, msg: "Method Not Allowed"},
		{name: "DELETE", method: "DELETE", target: reg + "/g.1/remove", status: 405, msg: "Method Not Allowed"},
	}
	require.GreaterOrEqual(t, len(cases), 60)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			rec := e.do(method, tc.target)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Equal(t, `text/javascript; charset="UTF-8"`, rec.Header().Get("Content-Type"))
			var body struct {
				Status  int    `json:"status"`
				Error   bool   `json:"error"`
				Message string `json:"message"`
				Payload json.RawMessage
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
			assert.True(t, body.Error)
			assert.Equal(t, tc.status, body.Status)
			assert.Contains(t, body.Message+string(body.Payload), tc.msg)
			require.Equal(t, before, takeSnapshot(t, e, sk, signedKey), "the request changed something")
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
