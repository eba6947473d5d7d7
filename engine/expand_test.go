package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	groups := map[string][]string{
		"g1": {"c", "b", "x"}, // unsorted: Expand sorts
		"g2": {"a", "d", "c"},
		"g3": {},
	}
	members := func(g string) ([]string, error) { return groups[g], nil }
	tests := []struct {
		name     string
		channels []string
		groups   []string
		want     Expansion
	}{
		{"channels only, duplicates dropped", []string{"a", "b", "a"}, nil,
			Expansion{Channels: []string{"a", "b"}, Named: 2}},
		{"groups after named channels", []string{"x"}, []string{"g1", "g2"},
			Expansion{Channels: []string{"x", "b", "c", "a", "d"}, Named: 1, Via: []string{"g1", "g1", "g2", "g2"}}},
		{"first group wins", nil, []string{"g2", "g1", "g2"},
			Expansion{Channels: []string{"a", "c", "d", "b", "x"}, Via: []string{"g2", "g2", "g2", "g1", "g1"}}},
		{"empty and unknown groups", []string{"a"}, []string{"g3", "nope"},
			Expansion{Channels: []string{"a"}, Named: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.channels, tt.groups, members)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Channels[tt.want.Named:], got.FromGroups())
		})
	}

	boom := errors.New("boom")
	_, err := Expand([]string{"a"}, []string{"g1"}, func(string) ([]string, error) { return nil, boom })
	require.ErrorIs(t, err, boom)
}

// TestExpandManyNames crosses the size where duplicates are found in a set.
func TestExpandManyNames(t *testing.T) {
	var chs []string
	for i := range 100 {
		chs = append(chs, fmt.Sprint("c", i%40))
	}
	got, err := Expand(chs, []string{"g"}, func(string) ([]string, error) { return []string{"c1", "c39", "z"}, nil })
	require.NoError(t, err)
	assert.Len(t, got.Channels, 41)
	assert.Equal(t, 40, got.Named)
	assert.Equal(t, []string{"z"}, got.FromGroups())
}

// TestCallsActOnTheExpansionGiven: a call given an expansion acts on its
// channels, whatever the groups hold by then, and takes a group's state
// through the expansion's Via.
func TestCallsActOnTheExpansionGiven(t *testing.T) {
	e := newEngine(t, Config{})
	require.NoError(t, e.AddChannelsToGroup(sk, "g", "b", "c"))
	x, err := Expand([]string{"a"}, []string{"g"}, func(g string) ([]string, error) { return e.GroupChannels(sk, g) })
	require.NoError(t, err)
	require.NoError(t, e.AddChannelsToGroup(sk, "g", "late")) // after the expansion

	res, err := e.Heartbeat(ctx, HeartbeatRequest{
		SubKey: sk, UUID: "u", Channels: []string{"a"}, Groups: []string{"g"},
		State:    map[string]json.RawMessage{"g": json.RawMessage(`{"s":1}`)},
		Expanded: &x,
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, res.Joined)
	where, err := e.WhereNow(sk, "u")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, where)

	st, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}, Expanded: &Expansion{Channels: []string{"b", "c"}, Via: []string{"g", "g"}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]json.RawMessage{"b": json.RawMessage(`{"s":1}`), "c": json.RawMessage(`{"s":1}`)}, st)

	hn, err := e.HereNow(HereNowRequest{SubKey: sk, Groups: []string{"g"}, Expanded: &Expansion{Channels: []string{"c"}, Via: []string{"g"}}})
	require.NoError(t, err)
	require.Len(t, hn.Channels, 1)
	assert.Equal(t, "c", hn.Channels[0].Channel)

	_, err = e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}, State: json.RawMessage(`{"s":2}`), Expanded: &Expansion{Channels: []string{"late"}, Via: []string{"g"}}})
	require.ErrorIs(t, err, ErrNotPresent, "the uuid is not on late")

	left, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "u", Groups: []string{"g"}, Expanded: &Expansion{Channels: []string{"b"}, Via: []string{"g"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, left.Left)
	where, err = e.WhereNow(sk, "u")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, where)
}

func TestExpansionChecked(t *testing.T) {
	tests := []struct {
		name string
		x    Expansion
		want error
		msg  string
	}{
		{"via shorter than the group part", Expansion{Channels: []string{"a", "b"}, Named: 1}, ErrInvalidGroup, "2 channels, 1 named, 0 reached through groups"},
		{"named past the end", Expansion{Channels: []string{"a"}, Named: 2}, ErrInvalidGroup, "1 channels, 2 named"},
		{"negative named", Expansion{Named: -1}, ErrInvalidGroup, "-1 named"},
		{"names a channel the call does not", Expansion{Channels: []string{"zz"}, Named: 1}, ErrInvalidChannel, `expansion names "zz", which the call does not name`},
		{"group the call does not name", Expansion{Channels: []string{"a", "b"}, Named: 1, Via: []string{"h"}}, ErrInvalidGroup, `reaches "b" through "h"`},
		{"invalid channel name", Expansion{Channels: []string{"a", "b c"}, Named: 1, Via: []string{"g"}}, ErrInvalidChannel, "b c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, Config{})
			x := tt.x
			calls := map[string]func() error{
				"heartbeat": func() error {
					_, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, Groups: []string{"g"}, Expanded: &x})
					return err
				},
				"leave": func() error {
					_, err := e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, Groups: []string{"g"}, Expanded: &x})
					return err
				},
				"set state": func() error {
					_, err := e.SetState(ctx, SetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, Groups: []string{"g"}, State: json.RawMessage(`{}`), Expanded: &x})
					return err
				},
				"get state": func() error {
					_, err := e.GetState(GetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"a"}, Groups: []string{"g"}, Expanded: &x})
					return err
				},
				"here now": func() error {
					_, err := e.HereNow(HereNowRequest{SubKey: sk, Channels: []string{"a"}, Groups: []string{"g"}, Expanded: &x})
					return err
				},
			}
			for name, call := range calls {
				err := call()
				require.ErrorIs(t, err, tt.want, name)
				assert.True(t, strings.Contains(err.Error(), tt.msg), "%s: %v", name, err)
			}
			assert.Zero(t, e.Stats().Members, "nothing applied")
		})
	}
}
