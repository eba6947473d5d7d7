package httpapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

// TestHeartbeatTimeoutParameter: the heartbeat parameter of a heartbeat and
// of a subscribe call's implicit heartbeat sets the member's timeout, in
// seconds, clamped by the engine; absent, empty or 0 means the engine's
// default (the Go SDK v4 sends heartbeat=0 with its default configuration).
// Each case checks that the member is there just before the timeout it
// should have, and gone one tick after it, in virtual time.
func TestHeartbeatTimeoutParameter(t *testing.T) {
	ecfg := engine.Config{DefaultTimeout: 100 * time.Second, MinTimeout: 20 * time.Second, MaxTimeout: 200 * time.Second}
	tests := []struct {
		name  string
		param string // the query's heartbeat part, "" for none
		want  time.Duration
	}{
		{name: "absent", want: 100 * time.Second},
		{name: "empty", param: "&heartbeat=", want: 100 * time.Second},
		{name: "zero", param: "&heartbeat=0", want: 100 * time.Second},
		{name: "zero with leading zeros", param: "&heartbeat=000", want: 100 * time.Second},
		{name: "seconds", param: "&heartbeat=60", want: 60 * time.Second},
		{name: "below the minimum", param: "&heartbeat=5", want: 20 * time.Second},
		{name: "above the maximum", param: "&heartbeat=9999", want: 200 * time.Second},
	}
	for _, call := range []struct {
		name   string
		target string
	}{
		{"heartbeat", pre + "/channel/ch1/heartbeat?uuid=u1"},
		{"subscribe", subPre + "/ch1/0?uuid=u1"},
	} {
		for _, tt := range tests {
			t.Run(call.name+"/"+tt.name, func(t *testing.T) {
				inBubble(t, func(t *testing.T) {
					e := newSubEnv(t, Config{}, ecfg)
					rec := e.get(call.target + tt.param)
					require.Equal(t, 200, rec.Code, rec.Body.String())
					time.Sleep(tt.want - time.Second)
					assert.Equal(t, []string{"ch1"}, e.whereNow("u1"), "present just before its timeout")
					time.Sleep(time.Second + engine.DefaultTick + time.Millisecond)
					assert.Empty(t, e.whereNow("u1"), "gone a tick after its timeout")
				})
			})
		}
	}
}

// TestHeartbeatTimeoutParameterErrors: anything but a non-negative integer
// is a 400 naming the parameter, on both calls, and applies nothing.
func TestHeartbeatTimeoutParameterErrors(t *testing.T) {
	for _, v := range []string{"-1", "abc", "1.5", "0x1e", "%2B30", "1e3", "%20"} {
		for _, target := range []string{
			pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=" + v,
			subPre + "/ch1/0?uuid=u1&heartbeat=" + v,
		} {
			t.Run(target, func(t *testing.T) {
				inBubble(t, func(t *testing.T) {
					e := newSubEnv(t, Config{}, engine.Config{})
					rec := e.get(target)
					assert.Equal(t, 400, rec.Code)
					assert.Contains(t, rec.Body.String(), "Invalid heartbeat: ")
					assert.Contains(t, rec.Body.String(), "is not a non-negative integer")
					assert.Empty(t, e.whereNow("u1"))
				})
			})
		}
	}
}

// TestHeartbeatStateForms covers the two forms of a heartbeat's state: keyed
// by the channels and groups of the call, or unkeyed, the whole object being
// the state of each of them (the JavaScript SDK 12's setState with
// withHeartbeat sends it so), on /heartbeat and on the implicit heartbeat of
// a subscribe call.
func TestHeartbeatStateForms(t *testing.T) {
	type want map[string]string // channel -> state ({} for none)
	tests := []struct {
		name     string
		channels string // the call's channel list
		groups   string // its channel-group parameter
		state    string
		want     want
	}{
		{
			name: "unkeyed, one channel", channels: "ch1",
			state: `{"role":"b"}`,
			want:  want{"ch1": `{"role":"b"}`},
		},
		{
			name: "unkeyed, several channels", channels: "ch1,ch2,ch3",
			state: `{"role":"b","n":2}`,
			want:  want{"ch1": `{"role":"b","n":2}`, "ch2": `{"role":"b","n":2}`, "ch3": `{"role":"b","n":2}`},
		},
		{
			name: "unkeyed, values that are objects", channels: "ch1",
			state: `{"profile":{"name":"bo"}}`,
			want:  want{"ch1": `{"profile":{"name":"bo"}}`},
		},
		{
			name: "unkeyed, channels and a group", channels: "ch1", groups: "g",
			state: `{"team":"red"}`,
			want:  want{"ch1": `{"team":"red"}`, "gch1": `{"team":"red"}`, "gch2": `{"team":"red"}`},
		},
		{
			name: "unkeyed, a group only", channels: ",", groups: "g",
			state: `{"team":"red"}`,
			want:  want{"gch1": `{"team":"red"}`, "gch2": `{"team":"red"}`},
		},
		{
			name: "unkeyed, compacted", channels: "ch1",
			state: " { \"role\" : \"b\" } ",
			want:  want{"ch1": `{"role":"b"}`},
		},
		{
			name: "keyed by channel", channels: "ch1,ch2",
			state: `{"ch1":{"a":1},"ch2":{"b":2}}`,
			want:  want{"ch1": `{"a":1}`, "ch2": `{"b":2}`},
		},
		{
			name: "keyed, a channel without an entry keeps its state", channels: "ch1,ch2",
			state: `{"ch2":{"b":2}}`,
			want:  want{"ch1": `{"kept":true}`, "ch2": `{"b":2}`},
		},
		{
			name: "keyed by group, a channel's own entry wins", channels: "gch1", groups: "g",
			state: `{"g":{"team":"red"},"gch1":{"own":true}}`,
			want:  want{"gch1": `{"own":true}`, "gch2": `{"team":"red"}`},
		},
		{
			// One root key names a channel of the call: the object is keyed,
			// and the other keys are names the call does not heartbeat.
			name: "keyed, with keys of other names", channels: "ch1",
			state: `{"ch1":{"a":1},"elsewhere":{"b":2},"mood":"x"}`,
			want:  want{"ch1": `{"a":1}`},
		},
		{
			// The JavaScript SDK's event engine sends the state it holds for
			// ch1 with its heartbeats of ch2.
			name: "keyed by a channel the uuid is on, not in the call", channels: "ch2",
			state: `{"ch1":{"role":"x"}}`,
			want:  want{"ch1": `{"kept":true}`, "ch2": `{}`},
		},
		{
			name: "unkeyed, a key naming a channel the uuid is not on", channels: "ch2",
			state: `{"ch9":{"role":"x"}}`,
			want:  want{"ch2": `{"ch9":{"role":"x"}}`},
		},
		{
			name: "empty object sets nothing", channels: "ch1,ch2",
			state: `{}`,
			want:  want{"ch1": `{"kept":true}`, "ch2": `{}`},
		},
		{
			name: "null sets nothing", channels: "ch1",
			state: `null`,
			want:  want{"ch1": `{"kept":true}`},
		},
	}
	for _, call := range []struct {
		name   string
		target func(channels, query string) string
	}{
		{"heartbeat", func(chs, q string) string { return pre + "/channel/" + chs + "/heartbeat?uuid=u1" + q }},
		{"subscribe", func(chs, q string) string { return subPre + "/" + chs + "/0?uuid=u1" + q }},
	} {
		for _, tt := range tests {
			t.Run(call.name+"/"+tt.name, func(t *testing.T) {
				inBubble(t, func(t *testing.T) {
					e := newSubEnv(t, Config{}, engine.Config{})
					e.group("g", "gch1", "gch2")
					e.beat("u1", map[string]string{"ch1": `{"kept":true}`}, "ch1")
					q := "&state=" + url.QueryEscape(tt.state)
					if tt.groups != "" {
						q += "&channel-group=" + tt.groups
					}
					rec := e.get(call.target(tt.channels, q))
					require.Equal(t, 200, rec.Code, rec.Body.String())
					for ch, st := range tt.want {
						assertState(t, e, "u1", ch, st)
					}
				})
			})
		}
	}
}

// TestHeartbeatStateFormErrors: an unkeyed state is checked as any state is,
// and a refused one applies nothing, on either call.
func TestHeartbeatStateFormErrors(t *testing.T) {
	tests := []struct {
		name, channels, state, msg string
	}{
		{name: "unkeyed too large", channels: "ch1,ch2", state: `{"role":"` + strings.Repeat("x", 100) + `"}`, msg: "at most 64"},
		{name: "unkeyed invalid UTF-8", channels: "ch1", state: "{\"role\":\"\xff\"}", msg: "UTF-8"},
		{name: "keyed value not an object", channels: "ch1,ch2", state: `{"ch1":{"a":1},"ch2":"x"}`, msg: "not a JSON object"},
		{name: "not an object", channels: "ch1", state: `["ch1"]`, msg: "Invalid state: not a JSON object"},
		{name: "invalid JSON", channels: "ch1", state: `{"role":}`, msg: "invalid JSON"},
	}
	for _, call := range []struct {
		name   string
		target func(channels, query string) string
	}{
		{"heartbeat", func(chs, q string) string { return pre + "/channel/" + chs + "/heartbeat?uuid=u2" + q }},
		{"subscribe", func(chs, q string) string { return subPre + "/" + chs + "/0?uuid=u2" + q }},
	} {
		for _, tt := range tests {
			t.Run(call.name+"/"+tt.name, func(t *testing.T) {
				inBubble(t, func(t *testing.T) {
					e := newSubEnv(t, Config{}, engine.Config{MaxStateBytes: 64})
					e.beat("u2", map[string]string{"ch1": `{"kept":true}`}, "ch1")
					rec := e.get(call.target(tt.channels, "&state="+url.QueryEscape(tt.state)))
					assert.Equal(t, 400, rec.Code)
					assert.Contains(t, rec.Body.String(), tt.msg)
					assert.Equal(t, []string{"ch1"}, e.whereNow("u2"), "nothing joined")
					assertState(t, e, "u2", "ch1", `{"kept":true}`)
				})
			})
		}
	}
}
