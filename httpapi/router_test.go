package httpapi

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		path string
		want route
	}{
		{"/time/0", route{kind: routeTime, callback: "0"}},
		{"/time/cb", route{kind: routeTime, callback: "cb"}},
		{"/v2/presence/sub-key/sk", route{kind: routeHereNowGlobal, subKey: "sk"}},
		{"/v2/presence/sub_key/sk", route{kind: routeHereNowGlobal, subKey: "sk"}},
		{"/v2/presence/sub-key/sk/channel/a,b", route{kind: routeHereNow, subKey: "sk", channels: "a,b"}},
		{"/v2/presence/sub-key/sk/channel/,/heartbeat", route{kind: routeHeartbeat, subKey: "sk", channels: ","}},
		{"/v2/presence/sub-key/sk/channel/a%2Cb/leave", route{kind: routeLeave, subKey: "sk", channels: "a%2Cb"}},
		{"/v2/presence/sub-key/sk/channel/a/uuid/u%2F1", route{kind: routeGetState, subKey: "sk", channels: "a", uuid: "u%2F1"}},
		{"/v2/presence/sub-key/sk/channel/a/uuid/u/data", route{kind: routeSetState, subKey: "sk", channels: "a", uuid: "u"}},
		{"/v2/presence/sub-key/sk/uuid/u", route{kind: routeWhereNow, subKey: "sk", uuid: "u"}},
		{"/v1/channel-registration/sub-key/sk/channel-group", route{kind: routeGroups, subKey: "sk"}},
		{"/v1/channel-registration/sub_key/sk/channel-group/g", route{kind: routeGroup, subKey: "sk", group: "g"}},
		{"/v1/channel-registration/sub-key/sk/channel-group/g/remove", route{kind: routeGroupDelete, subKey: "sk", group: "g"}},
		{"/v2/subscribe/sk/a,a-pnpres/0", route{kind: routeSubscribe, subKey: "sk", channels: "a,a-pnpres", callback: "0"}},
		{"/v2/subscribe/sk/,/cb", route{kind: routeSubscribe, subKey: "sk", channels: ",", callback: "cb"}},

		{"", route{}},
		{"/", route{}},
		{"time/0", route{}},
		{"/time", route{}},
		{"/time/", route{}},
		{"/time/0/x", route{}},
		{"/v2/presence", route{}},
		{"/v2/presence/sub-key", route{}},
		{"/v2/presence/subkey/sk", route{}},
		{"/v2/presence/sub-key/sk/", route{}},
		{"/v2/presence/sub-key/sk/channel", route{}},
		{"/v2/presence/sub-key/sk/channel/a/heartbeat/", route{}},
		{"/v2/presence/sub-key/sk/channel/a/nope", route{}},
		{"/v2/presence/sub-key/sk/channel/a/uuid/u/nope", route{}},
		{"/v2/presence/sub-key/sk/uuid/u/x", route{}},
		{"/v2/presence/sub-key/sk/other/u", route{}},
		{"/v1/channel-registration/sub-key/sk", route{}},
		{"/v1/channel-registration/sub-key/sk/channel-groups", route{}},
		{"/v1/channel-registration/sub-key/sk/channel-group/g/delete", route{}},
		{"/v2/subscribe/sk/a", route{}},
		{"/v2/subscribe/sk/a/", route{}},
		{"/v2/subscribe/sk/a/0/x", route{}},
		{"/" + strings.Repeat("a/", maxSegments), route{}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			got := match(tc.path)
			if tc.want.kind == routeNone {
				assert.Equal(t, routeNone, got.kind)
				return
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless with -race")
	}
	path := "/v2/presence/sub-key/sk/channel/a,b/heartbeat"
	allocs := testing.AllocsPerRun(100, func() { _ = match(path) })
	assert.Zero(t, allocs)
}

func TestEscapedPath(t *testing.T) {
	cases := map[string]string{
		"/a/b":             "/a/b",
		"/a%2Cb,c":         "/a%2Cb,c",
		"/a%2Fb":           "/a%2Fb",
		"/caf%C3%A9":       "/caf%C3%A9",
		"/caf%c3%a9":       "/caf%c3%a9",
		"/a%20b":           "/a%20b",
		"/x/café%2C":       "/x/café%2C", // raw UTF-8 next to an escape: as sent
		"/%E2%9C%93%2C%41": "/%E2%9C%93%2C%41",
	}
	for sent, want := range cases {
		u, err := url.ParseRequestURI(sent)
		require.NoError(t, err)
		assert.Equal(t, want, escapedPath(u), sent)
	}
}

// requestPath gives what escapedPath gives, without escaping the path again:
// the path as the client sent it, for targets read by net/http, and for a
// request built by hand.
func TestRequestPath(t *testing.T) {
	sent := []string{
		"/a/b", "/a%2Cb,c", "/a%2Fb", "/caf%C3%A9", "/caf%c3%a9", "/a%20b",
		"/x/café%2C", "/%E2%9C%93%2C%41", "/v2/presence/sub-key/k/channel/a,b/heartbeat",
		"/time/0", "/a//b/",
	}
	for _, p := range sent {
		for _, query := range []string{"", "?uuid=u&heartbeat=300", "?a=%2F?b"} {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + p + query + " HTTP/1.1\r\nHost: h\r\n\r\n")))
			require.NoError(t, err, p+query)
			assert.Equal(t, escapedPath(req.URL), requestPath(req), p+query)
			assert.Equal(t, p, requestPath(req), p+query)
		}
	}
	byHand, err := http.NewRequest(http.MethodGet, "http://h/a%2Cb/c?x=1", nil)
	require.NoError(t, err)
	assert.Equal(t, "/a%2Cb/c", requestPath(byHand))
	absolute, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET http://h/a%2Cb/c?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")))
	require.NoError(t, err)
	assert.Equal(t, "/a%2Cb/c", requestPath(absolute))
}
