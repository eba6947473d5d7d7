package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
		{name: "empty grants allow nothing", content: `{"grants": {}}`, wantAuthz: true},
		{
			// encoding/json matches member names ignoring case; so does the
			// search for unknown ones.
			name:      "member names in another case",
			content:   `{"Keys": [{"SUB_KEY": "s"}], "Grants": {"s": {"*": {"Channels": {"lobby": "r"}}}}}`,
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
		{name: "unknown member", content: `{"key": []}`, wantErr: `line 1, column 2: unknown field "key" (known: keys, grants)`},
		{name: "unknown key member", content: `{"keys": [{"subkey": "s"}]}`, wantErr: `line 1, column 12: keys[0]: unknown field "subkey" (known: sub_key, pub_key, secret_key)`},
		{
			name:    "unknown member on a later line",
			content: "{\n  \"keys\": [\n    {\"sub_key\": \"a\"},\n    {\"sub_key\": \"b\", \"pubkey\": \"p\"}\n  ]\n}",
			wantErr: `line 4, column 22: keys[1]: unknown field "pubkey" (known: sub_key, pub_key, secret_key)`,
		},
		{
			name:    "unknown member in grants",
			content: "{\n  \"grants\": {\"sub-c-1\": {\"*\": {\"chanels\": {\"lobby\": \"r\"}}}}\n}",
			wantErr: `line 2, column 32: grants["sub-c-1"]["*"]: unknown field "chanels" (known: channels, groups)`,
		},
		{
			name:    "the first unknown member is named",
			content: `{"keys": [{"sub_key": "a", "x": 1}], "y": 2}`,
			wantErr: `line 1, column 28: keys[0]: unknown field "x"`,
		},
		{name: "grants of the wrong type", content: `{"grants": {"s": {"a": {"channels": "r"}}}}`, wantErr: "line 1, column 39: grants.channels: want a JSON object, not string"},
		{name: "trailing data", content: `{} {}`, wantErr: "unexpected data after the top-level JSON object"},
		{name: "missing sub key", content: `{"keys": [{"sub_key": "a"}, {"pub_key": "p"}]}`, wantErr: "keys[1]: sub_key is missing or empty"},
		{name: "duplicate sub key", content: `{"keys": [{"sub_key": "a"}, {"sub_key": "b"}, {"sub_key": "a"}]}`, wantErr: `keys[2]: sub_key "a" is already listed at keys[0]`},
		{
			name:    "secret without pub key",
			content: `{"keys": [{"sub_key": "a", "secret_key": "s"}]}`,
			wantErr: `keys[0] (sub_key "a"): secret_key needs a pub_key`,
		},
		{name: "grants not an object", content: `{"grants": 42}`, wantErr: "line 1, column 13: grants: want a JSON object, not number"},
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

// FuzzParseConfig: parseConfig never panics, and when encoding/json refuses
// a file for an unknown member, the error names that member, with its line
// and column and the path to it.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"key": []}`,
		`{"keys": [{"sub_key": "a", "subkey": "b"}]}`,
		`{"keys": [{"sub\u005fkey": "a", "b\u0061d": 1}]}`,
		`{"grants": {"s": {"*": {"chanels": {"x": "r"}}}}}`,
		`{"grants": {"s": {"*": {"channels": {"x": "r"}, "groups": {"g": "rm"}}}}, "extra": [1, {"a": 2}]}`,
		"{\n\t\"keys\" : [ {\"sub_key\":\"a\"} , {\"SUB_KEY\":\"b\", \"x\":null} ]\n}",
		`{"keys": [[{"nested": 1}]], "x": 1}`,
		`[{"keys": 1}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseConfig(data)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var fc fileConfig
		derr := dec.Decode(&fc)
		if derr == nil || !strings.HasPrefix(derr.Error(), "json: unknown field ") {
			return
		}
		require.Error(t, err)
		name := strings.TrimPrefix(derr.Error(), "json: unknown field ")
		m := regexp.MustCompile(`^line (\d+), column (\d+): (.+: )?unknown field ` + regexp.QuoteMeta(name) + ` \(known: `).FindStringSubmatch(err.Error())
		require.NotNil(t, m, "%v", err)
		// The line and column point at the member's name.
		line, col := 1, 1
		at := -1
		for i, b := range data {
			if strconv.Itoa(line) == m[1] && strconv.Itoa(col) == m[2] {
				at = i
				break
			}
			if b == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		require.GreaterOrEqual(t, at, 0, "line %s, column %s is not in the file", m[1], m[2])
		var got string
		require.NoError(t, json.NewDecoder(bytes.NewReader(data[at:])).Decode(&got), "at line %s, column %s", m[1], m[2])
		assert.Equal(t, name, strconv.Quote(got))
	})
}
