package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const grantsJSON = `{
  "sub-c-test": {
    "k1": {
      "channels": {"room.*": "r", "lobby": "rw"},
      "groups":   {"g": "r", "admin.*": "rm"}
    },
    "k2": {"channels": {"*": "r"}, "groups": {"*": "m"}},
    "*":  {"channels": {"public": "r"}}
  },
  "*": {
    "k1": {"channels": {"everywhere": "r"}}
  }
}`

func loadTestGrants(t *testing.T) *GrantTable {
	t.Helper()
	g, err := LoadGrants(strings.NewReader(grantsJSON))
	require.NoError(t, err)
	return g
}

func TestLoadGrantsErrors(t *testing.T) {
	cases := map[string]string{
		"not JSON":           `{`,
		"not an object":      `[]`,
		"unknown field":      `{"sk":{"k":{"chanels":{"a":"r"}}}}`,
		"unknown permission": `{"sk":{"k":{"channels":{"a":"rx"}}}}`,
		"upper case":         `{"sk":{"k":{"channels":{"a":"R"}}}}`,
		"star inside":        `{"sk":{"k":{"channels":{"a*b":"r"}}}}`,
		"two stars":          `{"sk":{"k":{"groups":{"a**":"r"}}}}`,
		"empty pattern":      `{"sk":{"k":{"channels":{"":"r"}}}}`,
		"empty auth key":     `{"sk":{"":{"channels":{"a":"r"}}}}`,
		"empty sub key":      `{"":{"k":{"channels":{"a":"r"}}}}`,
		"trailing data":      `{} {}`,
		"permission type":    `{"sk":{"k":{"channels":{"a":1}}}}`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			g, err := LoadGrants(strings.NewReader(src))
			assert.Nil(t, g)
			assert.ErrorIs(t, err, ErrInvalidGrants)
		})
	}

	g, err := LoadGrants(strings.NewReader(`{}`))
	require.NoError(t, err)
	d, err := g.Authorize(context.Background(), Request{SubKey: "x", Op: OpRead, Channels: []string{"a"}})
	require.NoError(t, err)
	assert.Equal(t, Denied{Channels: []string{"a"}}, d, "an empty table allows nothing")
}

func TestGrantTableAuthorize(t *testing.T) {
	g := loadTestGrants(t)
	cases := []struct {
		name string
		req  Request
		want Denied
	}{
		{"exact", Request{Auth: "k1", Op: OpRead, Channels: []string{"lobby"}}, Denied{}},
		{"prefix", Request{Auth: "k1", Op: OpRead, Channels: []string{"room.1", "room.a.b"}}, Denied{}},
		{"prefix needs its dot", Request{Auth: "k1", Op: OpRead, Channels: []string{"room", "roomx"}}, Denied{Channels: []string{"room", "roomx"}}},
		{"some denied, once each", Request{Auth: "k1", Op: OpRead, Channels: []string{"room.1", "secret", "other", "secret"}}, Denied{Channels: []string{"secret", "other"}}},
		{"write", Request{Auth: "k1", Op: OpWrite, Channels: []string{"lobby", "room.1"}}, Denied{Channels: []string{"room.1"}}},
		{"anyone's grant", Request{Op: OpRead, Channels: []string{"public"}}, Denied{}},
		{"anyone's grant with a key", Request{Auth: "k1", Op: OpRead, Channels: []string{"public"}}, Denied{}},
		{"no key", Request{Op: OpRead, Channels: []string{"lobby"}}, Denied{Channels: []string{"lobby"}}},
		{"unknown key", Request{Auth: "nope", Op: OpRead, Channels: []string{"lobby"}}, Denied{Channels: []string{"lobby"}}},
		{"star key is not a key", Request{Auth: "*", Op: OpRead, Channels: []string{"lobby"}}, Denied{Channels: []string{"lobby"}}},
		{"every sub key", Request{SubKey: "sub-c-other", Auth: "k1", Op: OpRead, Channels: []string{"everywhere"}}, Denied{}},
		{"other sub key", Request{SubKey: "sub-c-other", Auth: "k1", Op: OpRead, Channels: []string{"lobby"}}, Denied{Channels: []string{"lobby"}}},
		{"group covers its channels", Request{Auth: "k1", Op: OpRead, Channels: []string{"room.1", "secret"}, FromGroups: 1, Groups: []string{"g"}}, Denied{}},
		{"group denied", Request{Auth: "k1", Op: OpRead, Channels: []string{"x"}, FromGroups: 1, Groups: []string{"g", "h"}}, Denied{Groups: []string{"h"}}},
		{"none", Request{Op: OpNone, Channels: []string{"secret"}, Groups: []string{"h"}}, Denied{}},
		{"manage group", Request{Auth: "k1", Op: OpManage, Channels: []string{"secret"}, Groups: []string{"admin.1"}}, Denied{}},
		{"manage needs m", Request{Auth: "k1", Op: OpManage, Channels: []string{"a"}, Groups: []string{"g"}}, Denied{Groups: []string{"g"}}},
		{"global here now", Request{Auth: "k1", Op: OpRead}, Denied{All: true}},
		{"global here now with star", Request{Auth: "k2", Op: OpRead}, Denied{}},
		{"list groups", Request{Auth: "k1", Op: OpManage}, Denied{All: true}},
		{"list groups with star", Request{Auth: "k2", Op: OpManage}, Denied{}},
		{"presence name covered by the channel", Request{Auth: "k1", Op: OpRead, Channels: []string{"lobby-pnpres", "room.1-pnpres", "lobby"}}, Denied{}},
		{"presence name denied with the channel", Request{Auth: "k1", Op: OpRead, Channels: []string{"secret-pnpres"}}, Denied{Channels: []string{"secret-pnpres"}}},
		{"presence name of a group", Request{Auth: "k1", Op: OpRead, Groups: []string{"g-pnpres", "h-pnpres"}}, Denied{Groups: []string{"h-pnpres"}}},
		{"presence name takes the channel's permissions", Request{Auth: "k1", Op: OpWrite, Channels: []string{"lobby-pnpres", "room.1-pnpres"}}, Denied{Channels: []string{"room.1-pnpres"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.SubKey == "" {
				tc.req.SubKey = sk
			}
			got, err := g.Authorize(context.Background(), tc.req)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want.IsZero(), got.IsZero())
		})
	}
}

func TestNamedChannels(t *testing.T) {
	r := Request{Channels: []string{"a", "b", "c"}, FromGroups: 2}
	assert.Equal(t, []string{"a"}, r.NamedChannels())
	r.FromGroups = 5
	assert.Empty(t, r.NamedChannels())
	r.FromGroups = 0
	assert.Equal(t, r.Channels, r.NamedChannels())
}
