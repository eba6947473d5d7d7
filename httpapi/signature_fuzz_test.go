package httpapi

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// FuzzSignature signs a request built from the input and checks that it
// verifies, and that it stops verifying when the path, a parameter's key or
// value, or the timestamp changes in any way that changes what was signed.
func FuzzSignature(f *testing.F) {
	f.Add("/v2/presence/sub-key/sk/channel/a,b/heartbeat", "uuid", "u1", "state", `{"a":"b&c=%"}`, int64(0), uint8(0), uint8(1))
	f.Add("/v2/subscribe/sk/ch%2Fx/0", "auth", "k é", "tt", "0", int64(59), uint8(3), uint8(200))
	f.Fuzz(func(t *testing.T, path, k1, v1, k2, v2 string, skew int64, which, pos uint8) {
		if path == "" || path[0] != '/' || k1 == "" || k2 == "" || k1 == k2 ||
			k1 == "signature" || k2 == "signature" || k1 == "timestamp" || k2 == "timestamp" {
			return
		}
		key := &Key{SubKey: "sk", PubKey: "pub", SecretKey: "sec"}
		now := time.Unix(1_700_000_000, 0)
		ts := now.Unix() + skew%61 // within the window
		params := url.Values{k1: {v1}, k2: {v2}, "timestamp": {strconv.FormatInt(ts, 10)}}
		sig := Sign(key.SecretKey, key.PubKey, "GET", path, params, nil)
		verify := func(path string, params url.Values) bool {
			p := make(url.Values, len(params)+1)
			for k, v := range params {
				p[k] = v
			}
			p.Set("signature", sig)
			raw := p.Encode()
			var q query
			if parseQuery(raw, &q) != nil {
				return false
			}
			return verifySignature(key, "GET", path, raw, &q, now)
		}
		if !verify(path, params) {
			t.Fatalf("a signed request does not verify: %q %v", path, params)
		}

		mutate := func(s string) string {
			if s == "" {
				return "x"
			}
			i := int(pos) % len(s)
			return s[:i] + string(s[i]^(1+which%7)) + s[i+1:]
		}
		clone := func() url.Values {
			c := url.Values{}
			for k, v := range params {
				c[k] = append([]string(nil), v...)
			}
			return c
		}
		switch which % 4 {
		case 0:
			if p := mutate(path); verify(p, params) {
				t.Fatalf("path %q verifies with the signature of %q", p, path)
			}
		case 1:
			m := clone()
			m.Set(k1, mutate(v1))
			if verify(path, m) {
				t.Fatalf("value %q of %q verifies with the signature of %q", m.Get(k1), k1, v1)
			}
		case 2:
			m := clone()
			nk := mutate(k2)
			if nk == k1 || nk == "signature" || nk == "timestamp" {
				return
			}
			m[nk] = m[k2]
			delete(m, k2)
			if verify(path, m) {
				t.Fatalf("key %q verifies with the signature of key %q", nk, k2)
			}
		case 3:
			m := clone()
			m.Set("timestamp", strconv.FormatInt(ts+1+int64(pos%30), 10))
			if verify(path, m) {
				t.Fatalf("timestamp %s verifies with the signature of %d", m.Get("timestamp"), ts)
			}
		}
	})
}
