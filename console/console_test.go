package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewConfig(t *testing.T) {
	e := newEngine(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no token", Config{}, "Token of 0 bytes is shorter than 16 bytes"},
		{"short token", Config{Token: "123456789012345"}, "Token of 15 bytes"},
		{"path without slash", Config{Token: testToken, Path: "/console"}, `Path "/console" does not start and end with "/"`},
		{"relative path", Config{Token: testToken, Path: "console/"}, "Path"},
		{"sample period", Config{Token: testToken, SamplePeriod: time.Millisecond}, "SamplePeriod 1ms is below 10ms"},
		{"history", Config{Token: testToken, SamplePeriod: time.Minute, History: time.Second}, "History 1s is below SamplePeriod"},
		{"streams", Config{Token: testToken, MaxStreams: -1}, "MaxStreams -1 is negative"},
		{"sub key", Config{Token: testToken, SubKeys: []string{"a b"}}, "SubKeys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(e, tc.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err := New(nil, Config{Token: testToken})
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

// Nothing answers without the token, not even "not found": a 401 with a
// challenge, and not a word about presence.
func TestAuth(t *testing.T) {
	e := newEngine(t)
	beat(t, e, "alice", "lobby", time.Minute, `{"secret":"s3"}`)
	c := newConsole(t, e, Config{})

	paths := []string{"/console/", "/console", "/console/console.js", "/console/api/subkeys", "/console/api/channels?sub_key=demo",
		"/console/api/members?sub_key=demo&channel=lobby", "/console/api/uuid?sub_key=demo&uuid=alice",
		"/console/api/stream?sub_key=demo", "/console/nowhere", "/elsewhere"}
	for _, tc := range []struct {
		name  string
		setup func(r *http.Request)
	}{
		{"no credentials", func(r *http.Request) {}},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("operator", "wrong-token-0123456789") }},
		{"token as user name", func(r *http.Request) { r.SetBasicAuth(testToken, "") }},
		{"token with a suffix", func(r *http.Request) { r.SetBasicAuth("operator", testToken+"x") }},
		{"token's prefix", func(r *http.Request) { r.SetBasicAuth("operator", testToken[:len(testToken)-1]) }},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }},
		{"malformed basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range paths {
				for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead} {
					r := httptest.NewRequest(method, p, nil)
					tc.setup(r)
					w := httptest.NewRecorder()
					c.ServeHTTP(w, r)
					assert.Equal(t, http.StatusUnauthorized, w.Code, "%s %s", method, p)
					assert.Equal(t, `Basic realm="presenced console", charset="UTF-8"`, w.Header().Get("WWW-Authenticate"))
					body := w.Body.String()
					for _, leak := range []string{"alice", "lobby", "s3", "demo"} {
						assert.NotContains(t, body, leak)
					}
				}
			}
		})
	}

	t.Run("the token, any user name", func(t *testing.T) {
		for _, user := range []string{"operator", "", "anyone"} {
			r := httptest.NewRequest(http.MethodGet, "/console/api/subkeys", nil)
			r.SetBasicAuth(user, testToken)
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), "demo")
		}
	})
	t.Run("only reads", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := httptest.NewRequest(method, "/console/api/subkeys", nil)
			r.SetBasicAuth("operator", testToken)
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
			assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
		}
	})
}

func TestRoutes(t *testing.T) {
	c := newConsole(t, newEngine(t), Config{})
	w := get(c, "/console", true)
	assert.Equal(t, http.StatusMovedPermanently, w.Code)
	assert.Equal(t, "/console/", w.Header().Get("Location"))
	for _, p := range []string{"/console/nowhere", "/console/api/", "/console/api/subkeys/x", "/other"} {
		w := get(c, p, true)
		assert.Equal(t, http.StatusNotFound, w.Code, p)
		assert.Contains(t, w.Body.String(), `"status":404`)
	}

	moved := newConsole(t, newEngine(t), Config{Path: "/ops/presence/"})
	assert.Equal(t, http.StatusOK, get(moved, "/ops/presence/", true).Code)
	assert.Equal(t, http.StatusOK, get(moved, "/ops/presence/api/subkeys", true).Code)
	assert.Equal(t, http.StatusNotFound, get(moved, "/console/", true).Code)
}

func TestStatic(t *testing.T) {
	c := newConsole(t, newEngine(t), Config{})
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/console/", "text/html; charset=utf-8", `<script src="console.js" defer></script>`},
		{"/console/console.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/console/console.css", "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	} {
		w := get(c, tc.path, true)
		require.Equal(t, http.StatusOK, w.Code, tc.path)
		assert.Equal(t, tc.contentType, w.Header().Get("Content-Type"), tc.path)
		assert.Contains(t, w.Body.String(), tc.contains, tc.path)
		assert.Equal(t, contentSecurityPolicy, w.Header().Get("Content-Security-Policy"))
		assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))

		// Revalidation by ETag.
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		r.SetBasicAuth("", testToken)
		r.Header.Set("If-None-Match", w.Header().Get("ETag"))
		w = httptest.NewRecorder()
		c.ServeHTTP(w, r)
		assert.Equal(t, http.StatusNotModified, w.Code, tc.path)
	}
}

// The page loads nothing from elsewhere: no CDN, no font, no address but
// its own.
func TestStaticIsSelfContained(t *testing.T) {
	n := 0
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		require.NoError(t, err)
		text := string(body)
		if strings.HasSuffix(p, ".svg") {
			text = strings.ReplaceAll(text, `xmlns="http://www.w3.org/2000/svg"`, "")
		}
		for _, s := range []string{"http:", "https:", "//cdn", "@import", "url(", "fonts.", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval("} {
			assert.NotContains(t, text, s, p)
		}
		n++
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Len(t, assets, 4)
}

func TestCloseIsIdempotent(t *testing.T) {
	c := newConsole(t, newEngine(t), Config{})
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	w := get(c, "/console/api/subkeys", true)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, http.StatusUnauthorized, get(c, "/console/api/subkeys", false).Code, "still no word without the token")
}
