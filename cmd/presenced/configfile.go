package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

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
	Keys   []fileKey      `json:"keys"`
	Grants httpapi.Grants `json:"grants"`
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

	if fc.Grants != nil { // absent or null: no grants; {}: grants that allow nothing
		gt, err := httpapi.NewGrantTable(fc.Grants)
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
	// encoding/json reports an unknown field as `json: unknown field "x"`,
	// without its place: find it.
	if u, ok := findUnknownField(data, 0, reflect.TypeFor[fileConfig](), ""); ok {
		line, col := position(data, u.offset)
		where := ""
		if u.path != "" {
			where = u.path + ": "
		}
		return fmt.Errorf("line %d, column %d: %sunknown field %q (known: %s)", line, col, where, u.name, strings.Join(u.known, ", "))
	}
	return err
}

// unknownField is an object member that the Go type it decodes into has no
// field for.
type unknownField struct {
	path   string   // where the object is, as keys[0] or grants["sub-c-1"]["*"]; "" at the top
	name   string   // the member's name
	offset int64    // of the member's name in the file
	known  []string // the names the object takes
}

// findUnknownField looks through raw, a JSON value at offset base of the
// file and the value of path, for the first object member, in the order of
// the file, that t (the type it decodes into) has no field for. It matches
// names as encoding/json does, ignoring case. Values that do not have the
// shape of t are skipped: they are another error's concern.
func findUnknownField(raw []byte, base int64, t reflect.Type, path string) (unknownField, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var open byte
	switch {
	case t == reflect.TypeFor[json.RawMessage]() || t.Kind() == reflect.Interface:
		return unknownField{}, false
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		open = '{'
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		open = '['
	default:
		return unknownField{}, false
	}
	lead := len(raw) - len(bytes.TrimLeft(raw, " \t\r\n"))
	raw, base = raw[lead:], base+int64(lead)
	if len(raw) == 0 || raw[0] != open {
		return unknownField{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return unknownField{}, false
	}
	// next returns the offset in raw of the next token, past white space and
	// the separators "," and ":".
	next := func() int64 {
		i := dec.InputOffset()
		for i < int64(len(raw)) && strings.IndexByte(" \t\r\n,:", raw[i]) >= 0 {
			i++
		}
		return i
	}
	for i := 0; dec.More(); i++ {
		key := ""
		keyAt := next()
		elem := t
		elemPath := path
		if open == '{' {
			tok, err := dec.Token()
			if err != nil {
				return unknownField{}, false
			}
			key, _ = tok.(string)
			switch t.Kind() {
			case reflect.Struct:
				f, known, ok := jsonField(t, key)
				if !ok {
					return unknownField{path: path, name: key, offset: base + keyAt, known: known}, true
				}
				elem, elemPath = f.Type, joinPath(path, key)
			case reflect.Map:
				elem, elemPath = t.Elem(), path+"["+strconv.Quote(key)+"]"
			}
		} else {
			elem, elemPath = t.Elem(), path+"["+strconv.Itoa(i)+"]"
		}
		valueAt := next()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return unknownField{}, false
		}
		if u, ok := findUnknownField(v, base+valueAt, elem, elemPath); ok {
			return u, true
		}
	}
	return unknownField{}, false
}

// jsonField returns the field of struct t that the object member name
// decodes into, and the names t's fields take.
func jsonField(t reflect.Type, name string) (reflect.StructField, []string, bool) {
	var known []string
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		known = append(known, tag)
		if tag == name {
			return f, known, true
		}
		if !found && strings.EqualFold(tag, name) {
			fold, found = f, true
		}
	}
	return fold, known, found
}

// joinPath appends a struct field's name to a path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
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
