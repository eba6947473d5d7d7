package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SignatureWindow is how far a signed request's timestamp may be from the
// server's clock, either way.
const SignatureWindow = 60 * time.Second

// Sign returns the v2 signature of a request, as PubNub computes it:
//
//	"v2." + base64url_nopad(HMAC-SHA256(secretKey,
//	        method + "\n" + pubKey + "\n" + path + "\n" + QUERY + "\n" + body))
//
// path is the path as sent, still escaped. QUERY is every parameter of query
// but "signature", sorted by key (and a key's several values sorted), each
// written key=value with the value percent-encoded so that only A-Z a-z 0-9
// - _ . stay as they are (upper-case hex), joined with "&". The query must
// include the timestamp parameter (Unix seconds) that the server checks.
//
// Sign is for clients and tests; the handler uses it to check signatures.
func Sign(secretKey, pubKey, method, path string, query url.Values, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretKey))
	var b strings.Builder
	b.Grow(len(method) + len(pubKey) + len(path) + 64*len(query))
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(pubKey)
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	writeSignedQuery(&b, query)
	b.WriteByte('\n')
	_, _ = io.WriteString(mac, b.String())
	_, _ = mac.Write(body)
	return "v2." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func writeSignedQuery(b *strings.Builder, query url.Values) {
	keys := make([]string, 0, len(query))
	for k := range query {
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	first := true
	for _, k := range keys {
		vals := query[k]
		if len(vals) > 1 {
			vals = slices.Sorted(slices.Values(vals))
		}
		for _, v := range vals {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(k)
			b.WriteByte('=')
			pamEncode(b, v)
		}
	}
}

// pamEncode percent-encodes s leaving only A-Z a-z 0-9 - _ . as they are.
func pamEncode(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// verifySignature checks a request for a key with a secret: a timestamp
// within SignatureWindow of now and a signature matching Sign over what was
// sent. The comparison takes constant time.
func verifySignature(k *Key, method, path, rawQuery string, q *query, now time.Time) bool {
	if q.signature == "" || q.timestamp == "" {
		return false
	}
	ts, err := strconv.ParseInt(q.timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Unix() - ts; d > int64(SignatureWindow/time.Second) || d < -int64(SignatureWindow/time.Second) {
		return false
	}
	vals, ok := queryValues(rawQuery)
	if !ok {
		return false
	}
	want := Sign(k.SecretKey, k.PubKey, method, path, vals, nil)
	return subtle.ConstantTimeCompare([]byte(want), []byte(q.signature)) == 1
}
