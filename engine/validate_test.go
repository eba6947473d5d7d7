package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestValidateNames(t *testing.T) {
	ok92 := strings.Repeat("ü", MaxNameRunes)
	for _, tc := range []struct {
		name         string
		uuidOK, chOK bool
	}{
		{"alice", true, true},
		{"user.1-x_y@example.com", true, true},
		{ok92, true, true},
		{ok92 + "x", false, false},
		{"日本語", true, true},
		{"a b", true, false},
		{"a,b", true, false},
		{"a:b", true, false},
		{"a*", true, false},
		{"a/b", true, false},
		{`a\b`, true, false},
		{"lobby-pnpres", true, false},
		{"-pnpres-not-at-end", true, true},
		{"", false, false},
		{" ", false, false},
		{"\u3000", false, false}, // ideographic space: blank
		{"a\tb", false, false},
		{"a\x7fb", false, false},
		{"a\u0085b", false, false}, // C1 control
		{"a\xc3", false, false},    // truncated UTF-8
		{"\xff", false, false},
	} {
		assert.Equal(t, tc.uuidOK, ValidateUUID(tc.name) == nil, "uuid %q", tc.name)
		assert.Equal(t, tc.chOK, ValidateChannel(tc.name) == nil, "channel %q", tc.name)
		assert.Equal(t, tc.chOK, ValidateGroup(tc.name) == nil, "group %q", tc.name)
	}
}

// Every byte value at every position of names of the lengths around the
// word size of the fast path, and of the longest: checkName agrees with the
// reference. Names of spaces with one byte changed cover blank names, and
// ones with a presence suffix cover the suffix at each length.
func TestCheckNameEveryByteEveryPosition(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 23, 24, 36, MaxNameRunes} {
		for _, fill := range []string{"a", " "} {
			for pos := range n {
				for b := range 256 {
					buf := []byte(strings.Repeat(fill, n))
					buf[pos] = byte(b)
					name := string(buf)
					for _, strict := range []bool{false, true} {
						if (checkName(name, strict) == "") != referenceCheck(name, strict) {
							t.Fatalf("checkName(%q, %v) = %q, reference disagrees", name, strict, checkName(name, strict))
						}
					}
				}
			}
		}
		if n >= len(PresenceSuffix) {
			name := strings.Repeat("a", n-len(PresenceSuffix)) + PresenceSuffix
			assert.NotEmpty(t, checkName(name, true), "%q", name)
			assert.Empty(t, checkName(name, false), "%q", name)
		}
	}
}

// referenceCheck is checkName written the slow, obvious way.
func referenceCheck(s string, strict bool) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameRunes {
		return false
	}
	blank := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
		if strict && strings.ContainsRune(",:*/\\ ", r) {
			return false
		}
		if !unicode.IsSpace(r) {
			blank = false
		}
	}
	if strict && strings.HasSuffix(s, PresenceSuffix) {
		return false
	}
	return !blank
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"alice", "a b", "ü", "a-pnpres", "\xff", " \t", strings.Repeat("x", 93), "a,b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, strict := range []bool{false, true} {
			why := checkName(s, strict)
			if (why == "") != referenceCheck(s, strict) {
				t.Fatalf("checkName(%q, %v) = %q, reference disagrees", s, strict, why)
			}
		}
	})
}

func FuzzCompactState(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` { "a" : [1, {"b":null}] } `, `[]`, `"x"`, `{"a":}`, `{"a":1}{}`, `{"\u00e9":"\ud83d\ude00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := CompactState(json.RawMessage(s), 256)
		if err != nil {
			return
		}
		if st == nil { // {}: no state
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) != nil || len(m) != 0 {
				t.Fatalf("%q compacted to no state", s)
			}
			return
		}
		if !utf8.Valid(st) {
			t.Fatalf("%q compacted to invalid UTF-8", s)
		}
		var m map[string]any
		if err := json.Unmarshal(st, &m); err != nil || m == nil {
			t.Fatalf("%q compacted to %q, not an object: %v", s, st, err)
		}
		if len(st) > 256 {
			t.Fatalf("%q compacted to %d bytes, over the bound", s, len(st))
		}
		again, err := CompactState(st, 256)
		if err != nil || string(again) != string(st) {
			t.Fatalf("compaction of %q is not stable: %q, %v", st, again, err)
		}
	})
}
