package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/presenced/presence/httpapi"
)

// fileConfig is the JSON config file named by -config:
//
//	{
//	  "keys": [{"sub_key": "sub-c-1", "pub_key": "pub-c-1", "secret_key": "sec-c-1"}],
//	  "grants": <what httpapi.LoadGrants reads>
//	}
//
// Both members are optional. Without keys every sub key is served, unsigned;
// without grants every request is allowed.
type fileConfig struct {
	Keys   []fileKey       `json:"keys"`
	Grants json.RawMessage `json:"grants"`
}

type fileKey struct {
	SubKey    string `json:"sub_key"`
	PubKey    string `json:"pub_key"`
	SecretKey string `json:"secret_key"`
}

// serverConfig is what the config file contributes to httpapi.Config.
type serverConfig struct {
	keys       []httpapi.Key
	authorizer httpapi.Authorizer // nil: allow all
}

// loadConfigFile reads the config file at path; an empty path gives the
// defaults. Errors name the file and, where they can, the place in it.
func loadConfigFile(path string) (serverConfig, error) {
	if path == "" {
		return serverConfig{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return serverConfig{}, fmt.Errorf("config: %w", err)
	}
	sc, err := parseConfig(data)
	if err != nil {
		return serverConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	return sc, nil
}

// parseConfig decodes and checks a config file's contents.
func parseConfig(data []byte) (serverConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var fc fileConfig
	if err := dec.Decode(&fc); err != nil {
		return serverConfig{}, describeJSONError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return serverConfig{}, errors.New("unexpected data after the top-level JSON object")
	}

	var sc serverConfig
	seen := make(map[string]int, len(fc.Keys))
	for i, k := range fc.Keys {
		switch {
		case k.SubKey == "":
			return serverConfig{}, fmt.Errorf("keys[%d]: sub_key is missing or empty", i)
		case k.SecretKey != "" && k.PubKey == "":
			return serverConfig{}, fmt.Errorf("keys[%d] (sub_key %q): secret_key needs a pub_key, which signatures include", i, k.SubKey)
		}
		if j, dup := seen[k.SubKey]; dup {
			return serverConfig{}, fmt.Errorf("keys[%d]: sub_key %q is already listed at keys[%d]", i, k.SubKey, j)
		}
		seen[k.SubKey] = i
		sc.keys = append(sc.keys, httpapi.Key{SubKey: k.SubKey, PubKey: k.PubKey, SecretKey: k.SecretKey})
	}

	if len(fc.Grants) > 0 && !bytes.Equal(bytes.TrimSpace(fc.Grants), []byte("null")) {
		gt, err := httpapi.LoadGrants(bytes.NewReader(fc.Grants))
		if err != nil {
			return serverConfig{}, fmt.Errorf("grants: %w", err)
		}
		sc.authorizer = gt
	}
	return sc, nil
}

// describeJSONError turns a decoding error into a message with the line and
// column where it happened.
func describeJSONError(data []byte, err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		line, col := position(data, syntax.Offset-1) // Offset counts the bad byte
		return fmt.Errorf("line %d, column %d: invalid JSON: %v", line, col, syntax)
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset-1) // Offset counts the value's first byte
		field := typ.Field
		if field == "" {
			field = "the top level"
		}
		return fmt.Errorf("line %d, column %d: %s: want a JSON %s, not %s", line, col, field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("empty file: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	}
	// Unknown fields are reported as `json: unknown field "x"`.
	return err
}

// jsonKind names the JSON type a Go kind decodes from.
func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	}
	return goKind
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(data))))
	line, col = 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
