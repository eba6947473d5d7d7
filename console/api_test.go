package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// seed puts 2 members on lobby, 3 on kitchen (bob on both), 1 on attic,
// and one member in sub key "other".
func seed(t *testing.T, p httpapi.Presence) {
	t.Helper()
	beat(t, p, "alice", "lobby", time.Minute, `{"mood":"happy"}`)
	beat(t, p, "bob", "lobby", 2*time.Minute, "")
	for _, u := range []string{"bob", "carol", "dave"} {
		beat(t, p, u, "kitchen", time.Hour, "")
	}
	beat(t, p, "erin", "attic", time.Hour, "")
	_, err := p.Heartbeat(ctx(), engine.HeartbeatRequest{SubKey: "other", UUID: "x", Channels: []string{"a"}})
	require.NoError(t, err)
}

func TestSubKeysEndpoint(t *testing.T) {
	e := newEngine(t)
	seed(t, e)
	c := newConsole(t, e, Config{})
	got := getJSON[subKeysJSON](t, c, "/console/api/subkeys")
	five, one := 5, 1
	assert.Equal(t, []subKeyJSON{
		{SubKey: sk, Channels: 3, Members: 6, UUIDs: &five},
		{SubKey: "other", Channels: 1, Members: 1, UUIDs: &one},
	}, got.SubKeys, "by members, largest first")
	assert.Equal(t, 2, got.Total)
	assert.True(t, got.UUIDs)

	got = getJSON[subKeysJSON](t, c, "/console/api/subkeys?limit=1")
	assert.Len(t, got.SubKeys, 1)
	assert.Equal(t, 2, got.Total)
}

func TestChannelsEndpoint(t *testing.T) {
	e := newEngine(t)
	seed(t, e)
	c := newConsole(t, e, Config{})

	got := getJSON[channelsJSON](t, c, "/console/api/channels?sub_key=demo")
	assert.Equal(t, channelsJSON{
		SubKey:   sk,
		Channels: []channelJSON{{"kitchen", 3}, {"lobby", 2}, {"attic", 1}},
		Matched:  3, Members: 6,
	}, got)

	// Pages of one, each after the last: every channel once, in order.
	var paged []channelJSON
	path := "/console/api/channels?sub_key=demo&limit=1"
	for range 5 {
		page := getJSON[channelsJSON](t, c, path)
		paged = append(paged, page.Channels...)
		assert.Equal(t, 3, page.Matched, "totals on every page")
		if page.Next == nil {
			break
		}
		path = "/console/api/channels?sub_key=demo&limit=1&after=" + url.QueryEscape(*page.Next)
	}
	assert.Equal(t, got.Channels, paged)

	got = getJSON[channelsJSON](t, c, "/console/api/channels?sub_key=demo&filter=T")
	assert.Equal(t, []channelJSON{{"kitchen", 3}, {"attic", 1}}, got.Channels, "case-insensitive")
	assert.Equal(t, 2, got.Matched)
	assert.Equal(t, 4, got.Members)
	assert.Nil(t, got.Next)

	got = getJSON[channelsJSON](t, c, "/console/api/channels?sub_key=nobody")
	assert.Equal(t, []channelJSON{}, got.Channels)
}

func TestMembersEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t)
		seed(t, e)
		c := newConsole(t, e, Config{})
		time.Sleep(15 * time.Second)

		got := getJSON[membersJSON](t, c, "/console/api/members?sub_key=demo&channel=lobby")
		left := func(ms int64) *int64 { return &ms }
		assert.Equal(t, []memberJSON{
			{UUID: "alice", State: []byte(`{"mood":"happy"}`), TimeLeftMS: left(45_000)},
			{UUID: "bob", TimeLeftMS: left(105_000)},
		}, got.Members, "in the engine's order; time left on the engine's clock")
		assert.Equal(t, 2, got.Occupancy)
		assert.True(t, got.TimeLeft)
		assert.Equal(t, time.Now().UnixMilli(), got.NowMS)

		// Pages.
		var seen []string
		for offset := 0; offset < 4; offset++ {
			page := getJSON[membersJSON](t, c, fmt.Sprintf("/console/api/members?sub_key=demo&channel=kitchen&limit=1&offset=%d", offset))
			assert.Equal(t, 3, page.Occupancy)
			assert.Equal(t, offset, page.Offset)
			for _, m := range page.Members {
				seen = append(seen, m.UUID)
			}
		}
		assert.ElementsMatch(t, []string{"bob", "carol", "dave"}, seen)

		got = getJSON[membersJSON](t, c, "/console/api/members?sub_key=demo&channel=empty")
		assert.Equal(t, []memberJSON{}, got.Members)
		assert.Zero(t, got.Occupancy)
	})
}

func TestUUIDEndpoint(t *testing.T) {
	e := newEngine(t)
	seed(t, e)
	c := newConsole(t, e, Config{})
	got := getJSON[uuidJSON](t, c, "/console/api/uuid?sub_key=demo&uuid=bob")
	assert.Equal(t, uuidJSON{SubKey: sk, UUID: "bob", Total: 2, Channels: []uuidChanJSON{
		{Channel: "kitchen", State: []byte(`{}`)}, {Channel: "lobby", State: []byte(`{}`)},
	}}, got)
	got = getJSON[uuidJSON](t, c, "/console/api/uuid?sub_key=demo&uuid=alice")
	assert.Equal(t, []uuidChanJSON{{Channel: "lobby", State: []byte(`{"mood":"happy"}`)}}, got.Channels)
	got = getJSON[uuidJSON](t, c, "/console/api/uuid?sub_key=demo&uuid=nobody")
	assert.Equal(t, 0, got.Total)
	assert.Equal(t, []uuidChanJSON{}, got.Channels)
}

// Bad parameters are a 400 that names the parameter, on every endpoint.
func TestBadParameters(t *testing.T) {
	c := newConsole(t, newEngine(t), Config{})
	for _, tc := range []struct {
		path, msg string
	}{
		{"/console/api/subkeys?limit=0", "limit: 0 is not within 1 to 1000"},
		{"/console/api/subkeys?limit=x", `limit: "x" is not an integer`},
		{"/console/api/channels", "sub_key: missing"},
		{"/console/api/channels?sub_key=a%20b", "sub_key: "},
		{"/console/api/channels?sub_key=demo&limit=501", "limit: 501 is not within 1 to 500"},
		{"/console/api/channels?sub_key=demo&limit=-1", "limit: -1"},
		{"/console/api/channels?sub_key=demo&after=lobby", `after: "lobby" is not OCCUPANCY:CHANNEL`},
		{"/console/api/channels?sub_key=demo&after=-1:lobby", "after: "},
		{"/console/api/channels?sub_key=demo&after=3:a%20b", `after: presence: invalid channel`},
		{"/console/api/channels?sub_key=demo&filter=" + string(make([]byte, 0)) + "%ff", "filter: not UTF-8"},
		{"/console/api/channels?sub_key=demo&filter=" + url.QueryEscape(string(make([]rune, 93))), "filter: 93 characters, at most 92"},
		{"/console/api/members?sub_key=demo", "channel: missing"},
		{"/console/api/members?sub_key=demo&channel=a,b", "channel: presence: invalid channel"},
		{"/console/api/members?sub_key=demo&channel=a&offset=-1", "offset: -1"},
		{"/console/api/members?sub_key=demo&channel=a&limit=1000", "limit: 1000 is not within 1 to 500"},
		{"/console/api/uuid?sub_key=demo", "uuid: missing"},
		{"/console/api/uuid?sub_key=demo&uuid=%01", "uuid: presence: invalid uuid"},
		{"/console/api/uuid?uuid=alice", "sub_key: missing"},
		{"/console/api/stream", "sub_key: missing"},
		{"/console/api/stream?sub_key=demo&since=abc", `since: "abc" is not a timetoken`},
		{"/console/api/stream?sub_key=demo&member_limit=0", "member_limit: 0"},
		{"/console/api/stream?sub_key=demo&channel=a:b", "channel: "},
	} {
		w := get(c, tc.path, true)
		assert.Equal(t, http.StatusBadRequest, w.Code, tc.path)
		var body struct{ Error string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.Contains(t, body.Error, tc.msg, tc.path)
	}
	assert.Zero(t, c.hub.watchers(), "no stream opened")
}

// Without an Inspector, the console reads HereNow: the same channels and
// members, no uuid totals, no time left, and the sub keys it was given or
// has seen events of.
func TestWithoutInspector(t *testing.T) {
	e := newEngine(t)
	seed(t, e)
	p := &readOnly{Presence: e}
	_, isInspector := httpapi.Presence(p).(Inspector)
	require.False(t, isInspector)
	c := newConsole(t, p, Config{SubKeys: []string{sk, "empty"}})

	subKeys := getJSON[subKeysJSON](t, c, "/console/api/subkeys")
	assert.Equal(t, []subKeyJSON{{SubKey: sk, Channels: 3, Members: 6}, {SubKey: "empty"}}, subKeys.SubKeys, "uuids unknown: null")
	assert.False(t, subKeys.UUIDs)

	chans := getJSON[channelsJSON](t, c, "/console/api/channels?sub_key=demo&limit=2&filter=")
	assert.Equal(t, []channelJSON{{"kitchen", 3}, {"lobby", 2}}, chans.Channels)
	require.NotNil(t, chans.Next)
	assert.Equal(t, "2:lobby", *chans.Next)
	chans = getJSON[channelsJSON](t, c, "/console/api/channels?sub_key=demo&after=2:lobby")
	assert.Equal(t, []channelJSON{{"attic", 1}}, chans.Channels)

	members := getJSON[membersJSON](t, c, "/console/api/members?sub_key=demo&channel=lobby")
	assert.False(t, members.TimeLeft)
	for _, m := range members.Members {
		assert.Nil(t, m.TimeLeftMS)
	}
	assert.Len(t, members.Members, 2)

	// A sub key seen in an event is offered once the hub watches.
	c.src.saw("seen")
	subKeys = getJSON[subKeysJSON](t, c, "/console/api/subkeys")
	assert.Equal(t, 3, subKeys.Total)
	assert.Empty(t, p.written())
}

func TestServiceErrors(t *testing.T) {
	e := newEngine(t)
	c := newConsole(t, e, Config{})
	require.NoError(t, e.Close())
	for _, path := range []string{"/console/api/subkeys", "/console/api/channels?sub_key=demo",
		"/console/api/members?sub_key=demo&channel=a", "/console/api/uuid?sub_key=demo&uuid=a"} {
		w := get(c, path, true)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, path)
		assert.Equal(t, "1", w.Header().Get("Retry-After"))
	}
}
