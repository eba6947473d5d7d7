package httpapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseQuery(t *testing.T) {
	cases := []struct {
		name, raw string
		want      query
	}{
		{"empty", "", query{}},
		{"plain", "uuid=u1&heartbeat=60&auth=k", query{uuid: "u1", heartbeat: "60", auth: "k", has: pUUID | pHeartbeat | pAuth}},
		{"decoded", "uuid=a%20b+c&channel-group=g1%2Cg2", query{uuid: "a b c", groups: "g1,g2", has: pUUID | pGroups}},
		{"first wins", "uuid=a&uuid=b", query{uuid: "a", has: pUUID}},
		{"encoded key", "channel%2Dgroup=g", query{groups: "g", has: pGroups}},
		{"unknown ignored", "x=%zz&pnsdk=1&uuid=u", query{uuid: "u", has: pUUID}},
		{"no value", "add&uuid", query{has: pAdd | pUUID}},
		{"both spellings", "disable-uuids=1", query{disableUUIDs: "1", has: pDisableUUIDs}},
		{"state encoded", "state=%7B%22a%22%3A%22b%26c%22%7D&uuid=u", query{state: `{"a":"b&c"}`, uuid: "u", has: pState | pUUID}},
		{"state raw", `state={"a":{"b":"x&y=1%","c":[1,{"d":"}"}]}}&uuid=u`, query{state: `{"a":{"b":"x&y=1%","c":[1,{"d":"}"}]}}`, uuid: "u", has: pState | pUUID}},
		{"state raw escaped quote", `state={"a":"x\"&y"}&uuid=u`, query{state: `{"a":"x\"&y"}`, uuid: "u", has: pState | pUUID}},
		{"state raw plus", `state={"n":1e+5}`, query{state: `{"n":1e+5}`, has: pState}},
		{"state raw last", `uuid=u&state={"a":1}`, query{state: `{"a":1}`, uuid: "u", has: pState | pUUID}},
		{"state raw unclosed", `state={"a":1&uuid=u`, query{state: `{"a":1`, uuid: "u", has: pState | pUUID}},
		{"state raw then junk", `state={"a":1}x&uuid=u`, query{state: `{"a":1}x`, uuid: "u", has: pState | pUUID}},
		{"state flag", "state=1", query{state: "1", has: pState}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var q query
			require.NoError(t, parseQuery(tc.raw, &q))
			assert.Equal(t, tc.want, q)
		})
	}

	var q query
	err := parseQuery("uuid=%zz", &q)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Invalid uuid: bad percent-escape "%zz"`)
}

func TestQueryValuesMatchesParseQuery(t *testing.T) {
	raw := `uuid=a%20b&state={"a":"x&y"}&signature=v2.x&pnsdk=PubNub-Go%2F4&add`
	vals, ok := queryValues(raw)
	require.True(t, ok)
	assert.Equal(t, url.Values{
		"uuid":  {"a b"},
		"state": {`{"a":"x&y"}`},
		"pnsdk": {"PubNub-Go/4"},
		"add":   {""},
	}, vals)
	_, ok = queryValues("a=%zz")
	assert.False(t, ok)
	_, ok = queryValues("%zz=a")
	assert.False(t, ok)
}

func TestSplitNames(t *testing.T) {
	cases := []struct {
		seg  string
		want []string
	}{
		{",", []string{}},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{"a%2Cb,c", []string{"a,b", "c"}},
		{"a%2Fb", []string{"a/b"}},
		{"caf%C3%A9,%E2%9C%93", []string{"café", "✓"}},
		{"a+b", []string{"a+b"}},
		{"a,,b", []string{"a", "", "b"}},
		{"a,", []string{"a", ""}},
		{",a", []string{"", "a"}},
		{"", []string{}}, // the Go SDK's empty segment
	}
	for _, tc := range cases {
		got, err := splitPathNames(tc.seg, "channel", nil)
		require.NoError(t, err, tc.seg)
		assert.Equal(t, tc.want, append([]string{}, got...), tc.seg)
	}
	_, err := splitPathNames("a,%zz", "channel", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Invalid channel")

	assert.Empty(t, splitQueryNames("", nil))
	assert.Empty(t, splitQueryNames(",", nil))
	assert.Equal(t, []string{"a", "", "b"}, splitQueryNames("a,,b", nil))
}

func TestAtoi(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"60", 60, true}, {"007", 7, true},
		{"99999999999999999999999", 1000, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1.5", 0, false}, {" 1", 0, false}, {"1e3", 0, false},
	}
	for _, tc := range cases {
		got, ok := atoi(tc.in, 1000)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestAppendString(t *testing.T) {
	cases := map[string]string{
		"plain":            `"plain"`,
		`q"b\`:             `"q\"b\\"`,
		"nl\n\r\t\x01\x7f": `"nl\n\r\t\u0001\u007f"`,
		"café ✓":           `"café ✓"`,
		"bad\xffutf8":      `"bad\ufffdutf8"`,
		"ls\u2028ps\u2029": `"ls\u2028ps\u2029"`,
	}
	for in, want := range cases {
		got := appendString(nil, in)
		assert.Equal(t, want, string(got), "%q", in)
		var back string
		require.NoError(t, json.Unmarshal(got, &back))
		if !strings.Contains(in, "\xff") {
			assert.Equal(t, in, back)
		}
	}
}

// FuzzParseQuery checks that parsing never panics, that a raw JSON state is
// taken whole, and that the signed values agree with the parsed ones.
func FuzzParseQuery(f *testing.F) {
	f.Add(`uuid=u&state={"a":"x&y"}&heartbeat=60`)
	f.Add(`state={"a":[1,{"b":"}"}]}&x=%zz`)
	f.Add("uuid=%E2%9C%93&channel-group=a,b&callback=cb")
	f.Add(`state={"a":"\"&`)
	f.Fuzz(func(t *testing.T, raw string) {
		var q query
		err := parseQuery(raw, &q)
		vals, ok := queryValues(raw)
		if err != nil || !ok {
			return
		}
		for key, got := range map[string]string{"uuid": q.uuid, "state": q.state, "channel-group": q.groups, "auth": q.auth} {
			if vs := vals[key]; len(vs) > 0 && vs[0] != got {
				t.Fatalf("%s: parseQuery %q, queryValues %q", key, got, vs[0])
			}
		}
		// A raw JSON state that closes at a parameter boundary is taken
		// byte for byte.
		if v, ok := strings.CutPrefix(raw, "state={"); ok {
			if n := jsonObjectLen("{" + v); n > 0 && (n == len(v)+1 || v[n-1] == '&') {
				if want := raw[len("state=") : len("state=")+n]; q.state != want {
					t.Fatalf("state %q, want %q", q.state, want)
				}
			}
		}
	})
}

func TestParseQueryReadsPastAFailure(t *testing.T) {
	var q query
	err := parseQuery("uuid=%zz&callback=cb&heartbeat=%zz", &q)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Invalid uuid")
	assert.Equal(t, "cb", q.callback)
}
