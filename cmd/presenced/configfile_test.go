package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/httpapi"
)

// writeFile writes content to a file in the test's temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestLoadConfigFile(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		wantKeys  []httpapi.Key
		wantAuthz bool
	}{
		{name: "empty object", content: `{}`},
		{name: "null grants", content: `{"grants": null}`},
		{name: "empty keys", content: `{"keys": []}`},
		{
			name: "keys",
			content: `{"keys": [
				{"sub_key": "sub-c-open"},
				{"sub_key": "sub-c-signed", "pub_key": "pub-c-signed", "secret_key": "sec-c-signed"}
			]}`,
			wantKeys: []httpapi.Key{
				{SubKey: "sub-c-open"},
				{SubKey: "sub-c-signed", PubKey: "pub-c-signed", SecretKey: "sec-c-signed"},
			},
		},
		{
			name: "the package documentation's example",
			content: `{
			  "keys": [
			    {"sub_key": "sub-c-demo"},
			    {"sub_key": "sub-c-signed", "pub_key": "pub-c-signed", "secret_key": "sec-c-signed"}
			  ],
			  "grants": {
			    "sub-c-demo": {
			      "*":         {"channels": {"*": "r"}},
			      "admin-key": {"channels": {"*": "rwm"}, "groups": {"*": "rm"}}
			    },
			    "sub-c-signed": {"*": {"channels": {"*": "rwm"}, "groups": {"*": "rm"}}}
			  }
			}`,
			wantKeys: []httpapi.Key{
				{SubKey: "sub-c-demo"},
				{SubKey: "sub-c-signed", PubKey: "pub-c-signed", SecretKey: "sec-c-signed"},
			},
			wantAuthz: true,
		},
		{
			name:      "grants",
			content:   `{"keys": [{"sub_key": "s"}], "grants": ` + testGrants + `}`,
			wantKeys:  []httpapi.Key{{SubKey: "s"}},
			wantAuthz: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := loadConfigFile(writeFile(t, "presenced.json", tt.content))
			require.NoError(t, err)
			assert.Equal(t, tt.wantKeys, sc.keys)
			assert.Equal(t, tt.wantAuthz, sc.authorizer != nil)
		})
	}

	t.Run("no file named", func(t *testing.T) {
		sc, err := loadConfigFile("")
		require.NoError(t, err)
		assert.Equal(t, serverConfig{}, sc)
	})
}

func TestLoadConfigFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{name: "empty file", content: ``, wantErr: "empty file: want a JSON object"},
		{name: "syntax error", content: "{\n  \"keys\": [,]\n}", wantErr: "line 2, column 12: invalid JSON: invalid character ','"},
		{name: "truncated", content: `{"keys": [`, wantErr: "truncated JSON"},
		{name: "not an object", content: `[]`, wantErr: "line 1, column 1: the top level: want a JSON object, not array"},
		{name: "keys not an array", content: `{"keys": {}}`, wantErr: "keys: want a JSON array, not object"},
		{name: "sub key not a string", content: `{"keys": [{"sub_key": 7}]}`, wantErr: "keys.sub_key: want a JSON string, not number"},
		{name: "unknown member", content: `{"key": []}`, wantErr: `json: unknown field "key"`},
		{name: "unknown key member", content: `{"keys": [{"subkey": "s"}]}`, wantErr: `json: unknown field "subkey"`},
		{name: "trailing data", content: `{} {}`, wantErr: "unexpected data after the top-level JSON object"},
		{name: "missing sub key", content: `{"keys": [{"sub_key": "a"}, {"pub_key": "p"}]}`, wantErr: "keys[1]: sub_key is missing or empty"},
		{name: "duplicate sub key", content: `{"keys": [{"sub_key": "a"}, {"sub_key": "b"}, {"sub_key": "a"}]}`, wantErr: `keys[2]: sub_key "a" is already listed at keys[0]`},
		{
			name:    "secret without pub key",
			content: `{"keys": [{"sub_key": "a", "secret_key": "s"}]}`,
			wantErr: `keys[0] (sub_key "a"): secret_key needs a pub_key`,
		},
		{name: "grants not an object", content: `{"grants": 42}`, wantErr: "grants: "},
		{name: "bad permission", content: `{"grants": {"s": {"a": {"channels": {"lobby": "x"}}}}}`, wantErr: "grants: httpapi: invalid grants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "presenced.json", tt.content)
			_, err := loadConfigFile(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "config "+path+": ")
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.json")
		_, err := loadConfigFile(path)
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "config: open "+path)
	})
}

// testGrants is a grant table in the format of httpapi.LoadGrants.
const testGrants = `{"s": {"auth-reader": {"channels": {"lobby": "r"}}}}`
