package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameRunes is the longest uuid, channel or group name, in characters.
const MaxNameRunes = 92

// MaxSubKeyBytes is the longest sub key.
const MaxSubKeyBytes = 256

// PresenceSuffix ends the names on which presence events are delivered; no
// channel or group may end with it.
const PresenceSuffix = "-pnpres"

// Classes of bytes for checkName.
const (
	classControl   = 1 << iota // C0 controls and DEL
	classSpace                 // counts as blank
	classForbidden             // not allowed in channel and group names
	classMultibyte             // part of a multi-byte UTF-8 sequence, or invalid
)

// Byte-wise masks for asciiNameOK: a word with every byte 0x01, and one with
// every byte 0x80.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// asciiNameOK reports whether s is a valid name made of printable ASCII: not
// empty, not all spaces, and when strict without the forbidden characters or
// the presence suffix. It does not check the length. It reads s eight bytes
// at a time and tests each word for bytes below 0x20 or above 0x7e, and
// equal to a forbidden byte, with the usual carry tricks; the last bytes are
// read as a word that repeats some of the previous ones, which changes
// nothing. false means "look closer", not "invalid".
func asciiNameOK(s string, strict bool) bool {
	if strict && len(s) > 0 && s[len(s)-1] == PresenceSuffix[len(PresenceSuffix)-1] && strings.HasSuffix(s, PresenceSuffix) {
		return false
	}
	n := len(s)
	if n < 8 {
		return shortNameOK(s, strict)
	}
	var bad, notSpace uint64
	for i := 0; ; i += 8 {
		if i > n-8 {
			i = n - 8
		}
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bad |= (w - 0x20*ones) &^ w       // a byte below 0x20
		bad |= (w + (0x7f-0x7e)*ones) | w // a byte above 0x7e
		notSpace |= w ^ ' '*ones
		if strict { // the bytes checkName refuses in strict names
			bad |= zeroByte(w^','*ones) | zeroByte(w^':'*ones) | zeroByte(w^'*'*ones) |
				zeroByte(w^'/'*ones) | zeroByte(w^'\\'*ones) | zeroByte(w^' '*ones)
		}
		if i == n-8 {
			break
		}
	}
	return bad&highs == 0 && notSpace != 0
}

// zeroByte returns a word with the high bit of each zero byte of v set, and
// maybe of bytes above a zero one (the carry): nonzero after &highs if and
// only if v has a zero byte.
func zeroByte(v uint64) uint64 { return (v - ones) &^ v }

// shortNameOK is asciiNameOK, but for the presence suffix, for names under
// eight bytes: one table lookup a byte.
func shortNameOK(s string, strict bool) bool {
	if s == "" {
		return false
	}
	seen, all := uint8(0), uint8(classSpace)
	for i := 0; i < len(s); i++ {
		cl := byteClass[s[i]]
		seen |= cl
		all &= cl
	}
	bad := uint8(classControl | classMultibyte)
	if strict {
		bad |= classForbidden
	}
	return seen&bad == 0 && all&classSpace == 0
}

// byteClass is a constant table, built once.
var byteClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = classControl
	}
	t[0x7f] = classControl
	for _, c := range "\t\n\v\f\r " {
		t[c] |= classSpace
	}
	for _, c := range ",:*/\\ " {
		t[c] |= classForbidden
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = classMultibyte
	}
	return t
}()

// checkName applies the rules shared by uuids, channels and groups (strict:
// also the characters channel and group names may not have) and returns what
// is wrong, or "". A valid ASCII name, the common case, is checked eight
// bytes at a time (asciiNameOK); anything else is looked at character by
// character.
func checkName(s string, strict bool) string {
	if len(s) <= MaxNameRunes && asciiNameOK(s, strict) {
		return ""
	}
	if s == "" {
		return "is empty"
	}
	n, blank := 0, true
	for i := 0; i < len(s); n++ {
		if n == MaxNameRunes {
			return fmt.Sprintf("is longer than %d characters", MaxNameRunes)
		}
		if c := s[i]; c < utf8.RuneSelf {
			cl := byteClass[c]
			if cl&classControl != 0 {
				return "contains a control character"
			}
			if strict && cl&classForbidden != 0 {
				if c == ' ' {
					return "contains a space"
				}
				return fmt.Sprintf("contains %q", rune(c))
			}
			if cl&classSpace == 0 {
				blank = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return "is not valid UTF-8"
		}
		i += size
		if r < 0xa0 { // C1 controls
			return "contains a control character"
		}
		if !unicode.IsSpace(r) {
			blank = false
		}
	}
	if blank {
		return "is blank"
	}
	if strict && strings.HasSuffix(s, PresenceSuffix) {
		return "ends with " + PresenceSuffix + ", which is reserved for presence events"
	}
	return ""
}

// ValidateUUID reports whether u is an acceptable uuid: 1 to 92 characters of
// valid UTF-8, not blank, without control characters. The error wraps
// ErrInvalidUUID.
func ValidateUUID(u string) error {
	if why := checkName(u, false); why != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidUUID, quote(u), why)
	}
	return nil
}

// ValidateChannel reports whether ch is an acceptable channel name: 1 to 92
// characters of valid UTF-8 without control characters, spaces or any of
// , : * / \, and not ending in -pnpres. The error wraps ErrInvalidChannel.
func ValidateChannel(ch string) error {
	if why := checkName(ch, true); why != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidChannel, quote(ch), why)
	}
	return nil
}

// ValidateGroup applies the channel rules to a channel group name. The error
// wraps ErrInvalidGroup.
func ValidateGroup(g string) error {
	if why := checkName(g, true); why != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidGroup, quote(g), why)
	}
	return nil
}

// ValidateSubKey reports whether sk is an acceptable sub key: 1 to
// MaxSubKeyBytes bytes, with no space, control character, '/' or invalid
// UTF-8. The error wraps ErrInvalidSubKey.
func ValidateSubKey(sk string) error {
	switch {
	case sk == "":
		return fmt.Errorf("%w: is empty", ErrInvalidSubKey)
	case len(sk) > MaxSubKeyBytes:
		return fmt.Errorf("%w: is longer than %d bytes", ErrInvalidSubKey, MaxSubKeyBytes)
	}
	for _, r := range sk {
		if r <= 0x20 || r == 0x7f || r == '/' || r == utf8.RuneError {
			return fmt.Errorf("%w %s: contains %q", ErrInvalidSubKey, quote(sk), r)
		}
	}
	return nil
}

// validateNames checks a call's channel and group lists: each name valid,
// neither list longer than max. Duplicates are allowed and act once. The
// names of channels the engine holds, as h tells, are valid (see
// held.vouches).
func validateNames(h held, channels, groups []string, max int) error {
	if len(channels) > max {
		return fmt.Errorf("%w: %d channels, at most %d", ErrTooManyChannels, len(channels), max)
	}
	if len(groups) > max {
		return fmt.Errorf("%w: %d channel groups, at most %d", ErrTooManyChannels, len(groups), max)
	}
	for _, ch := range channels {
		if h.vouches(ch) {
			continue
		}
		if err := ValidateChannel(ch); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if err := ValidateGroup(g); err != nil {
			return err
		}
	}
	return nil
}

// CompactState validates a state object and returns its compact form: it must
// be a JSON object, in valid UTF-8, of at most max bytes once compacted. An empty object means
// "no state" and compacts to nil.
func CompactState(raw json.RawMessage, max int) (json.RawMessage, error) {
	trimmed := bytes.Trim(raw, " \t\r\n") // JSON's whitespace, no more
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrInvalidState, quoteSnippet(trimmed))
	}
	if !utf8.Valid(trimmed) {
		return nil, fmt.Errorf("%w: is not valid UTF-8", ErrInvalidState)
	}
	var buf bytes.Buffer
	buf.Grow(len(trimmed))
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, fmt.Errorf("%w: %s is not valid JSON: %v", ErrInvalidState, quoteSnippet(trimmed), err)
	}
	if buf.Len() > max {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrStateTooLarge, buf.Len(), max)
	}
	if buf.Len() == 2 { // {}
		return nil, nil
	}
	return json.RawMessage(buf.Bytes()), nil
}

func quoteSnippet(b []byte) string {
	const max = 40
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// quote returns s as a Go string literal for an error message. It does not let
// s itself escape, so that validating a caller's names does not move the
// caller's slices to the heap on the path where nothing is wrong.
func quote(s string) string { return strconv.Quote(s) }
