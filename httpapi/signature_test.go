package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

func TestSignVector(t *testing.T) {
	// The test vector of SPEC.md.
	q, err := url.ParseQuery("l_obj=0.4545555556&l_pam=1.145&pnsdk=PubNubCSharp4.0.34.0&requestid=19e1dee9-2f87-45d6-97e5-3f4d3f9779a2&timestamp=1568724043&uuid=mytestuuid")
	require.NoError(t, err)
	got := Sign(
		"sec-c-MmUxNTZjMmYtNzFkNS00OAkzLWE2YjctNmQ4YzE5NWNmZDA3",
		"pub-c-03f156ea-a2e9-4c35-a733-9535824be897",
		"GET",
		"/v1/objects/sub-c-d7da9e59-c997-11e9-a139-dab2c75acd6f/spaces/pandu-ut-sid/users",
		q, nil)
	assert.Equal(t, "v2.TcZdUURiXAnxJgN4OLPczxzH4MQO87l-yKfE4fyUHGc", got)

	// The signature parameter itself is never signed.
	q.Set("signature", "v2.whatever")
	assert.Equal(t, got, Sign(
		"sec-c-MmUxNTZjMmYtNzFkNS00OAkzLWE2YjctNmQ4YzE5NWNmZDA3",
		"pub-c-03f156ea-a2e9-4c35-a733-9535824be897",
		"GET",
		"/v1/objects/sub-c-d7da9e59-c997-11e9-a139-dab2c75acd6f/spaces/pandu-ut-sid/users",
		q, nil))
}

func TestSignedQueryEncoding(t *testing.T) {
	var b strings.Builder
	writeSignedQuery(&b, url.Values{
		"b":     {"2", "1"},
		"a":     {`{"k":"v w"}~*!'()`},
		"c":     {"AZaz09-_.é"},
		"empty": {""},
	})
	assert.Equal(t, "a=%7B%22k%22%3A%22v%20w%22%7D%7E%2A%21%27%28%29&b=1&b=2&c=AZaz09-_.%C3%A9&empty=", b.String())
}

const (
	pubKey    = "pub-c-test"
	secretKey = "sec-c-test"
)

// signedTarget signs path with params as a client would at time now and
// returns the request target. rawState, if set, is appended unencoded as the
// state parameter, as the Go SDK sends it.
func signedTarget(path string, params url.Values, rawState string, now time.Time) string {
	params = cloneValues(params)
	params.Set("timestamp", strconv.FormatInt(now.Unix(), 10))
	signed := cloneValues(params)
	if rawState != "" {
		signed.Set("state", rawState)
	}
	params.Set("signature", Sign(secretKey, pubKey, http.MethodGet, path, signed, nil))
	q := params.Encode()
	if rawState != "" {
		q += "&state=" + rawState
	}
	return path + "?" + q
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func signedEnv(t *testing.T) *env {
	return newEnv(t, Config{Keys: []Key{
		{SubKey: sk, PubKey: pubKey, SecretKey: secretKey},
		{SubKey: "sub-c-open"},
	}}, engine.Config{})
}

func TestSignedRequests(t *testing.T) {
	e := signedEnv(t)
	hb := pre + "/channel/ch1,caf%C3%A9/heartbeat"

	rec := e.get(signedTarget(hb, url.Values{"uuid": {"u 1"}, "heartbeat": {"60"}, "pnsdk": {"PubNub-Go/4.10.0"}}, "", fixedNow))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"café", "ch1"}, e.whereNow("u 1"))

	// The Go SDK signs the raw JSON state and sends it unencoded.
	rec = e.get(signedTarget(pre+"/channel/ch1/heartbeat", url.Values{"uuid": {"u2"}}, `{"ch1":{"a":"x&y=50%"}}`, fixedNow))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assertState(t, e, "u2", "ch1", `{"a":"x&y=50%"}`)

	// JavaScript encodes it.
	rec = e.get(signedTarget(pre+"/channel/ch1/uuid/u2/data", url.Values{"state": {`{"b":"~*'()!"}`}}, "", fixedNow))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assertState(t, e, "u2", "ch1", `{"b":"~*'()!"}`)

	// Every endpoint with a sub key checks; the time endpoint does not.
	for _, path := range []string{pre, pre + "/channel/ch1", pre + "/uuid/u2", reg, reg + "/g", pre + "/channel/ch1/uuid/u2"} {
		assert.Equal(t, 200, e.get(signedTarget(path, url.Values{"uuid": {"u2"}}, "", fixedNow)).Code, path)
		assert.Equal(t, 403, e.get(path+"?uuid=u2").Code, path)
	}
	assert.Equal(t, 200, e.get("/time/0").Code)

	// A key without a secret needs no signature.
	assert.Equal(t, 200, e.get("/v2/presence/sub-key/sub-c-open/channel/ch1/heartbeat?uuid=u1").Code)
}

func TestSignatureMismatch(t *testing.T) {
	good := signedTarget(pre+"/channel/ch1/heartbeat", url.Values{"uuid": {"u1"}, "heartbeat": {"60"}, "auth": {"k"}}, "", fixedNow)
	sig := good[strings.Index(good, "signature=")+len("signature="):]
	sig = sig[:strings.IndexByte(sig+"&", '&')]
	mutations := map[string]string{
		"value":           strings.Replace(good, "uuid=u1", "uuid=u2", 1),
		"added param":     good + "&x=1",
		"removed param":   strings.Replace(good, "heartbeat=60&", "", 1),
		"empty param":     good + "&x",
		"path":            strings.Replace(good, "/ch1/", "/ch2/", 1),
		"path spelling":   strings.Replace(good, "/sub-key/", "/sub_key/", 1),
		"path escaping":   strings.Replace(good, "/ch1/", "/ch%31/", 1),
		"signature":       strings.Replace(good, sig, sig[:len(sig)-1]+flip(sig[len(sig)-1]), 1),
		"signature v1":    strings.Replace(good, "signature=v2.", "signature=v1.", 1),
		"no signature":    strings.Replace(good, "&signature="+sig, "", 1),
		"empty signature": strings.Replace(good, "signature="+sig, "signature=", 1),
		"no timestamp":    strings.Replace(good, "timestamp="+strconv.FormatInt(fixedNow.Unix(), 10)+"&", "", 1),
		"other timestamp": strings.Replace(good, "timestamp="+strconv.FormatInt(fixedNow.Unix(), 10), "timestamp="+strconv.FormatInt(fixedNow.Unix()+1, 10), 1),
	}
	e := signedEnv(t)
	for name, target := range mutations {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, good, target)
			rec := e.get(target)
			assert.Equal(t, 403, rec.Code)
			golden(t, "signature_mismatch.json", rec.Body.Bytes())
			assert.Empty(t, e.whereNow("u1"))
			assert.Empty(t, e.whereNow("u2"))
		})
	}
	assert.Equal(t, 200, e.get(good).Code)
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestSignatureTimestampWindow(t *testing.T) {
	e := signedEnv(t)
	cases := []struct {
		offset time.Duration
		status int
	}{
		{0, 200},
		{-60 * time.Second, 200},
		{60 * time.Second, 200},
		{-61 * time.Second, 403}, // stale
		{61 * time.Second, 403},  // from the future
		{-time.Hour, 403},
	}
	for _, tc := range cases {
		target := signedTarget(pre+"/channel/ch1/heartbeat", url.Values{"uuid": {"u1"}}, "", fixedNow.Add(tc.offset))
		assert.Equal(t, tc.status, e.get(target).Code, "offset %v", tc.offset)
	}
	bad := strings.Replace(signedTarget(pre+"/uuid/u1", nil, "", fixedNow), "timestamp=", "timestamp=x", 1)
	assert.Equal(t, 403, e.get(bad).Code)
}

func TestVerifySignatureUndecodable(t *testing.T) {
	// A parameter the handler does not read but that cannot be decoded
	// cannot be signed either.
	e := signedEnv(t)
	target := signedTarget(pre+"/uuid/u1", nil, "", fixedNow) + "&x=%zz"
	assert.Equal(t, 403, e.get(target).Code)
}
