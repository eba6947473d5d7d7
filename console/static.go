package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// static holds the page: plain HTML, CSS and JavaScript, no build step,
// nothing fetched from elsewhere.
//
//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets maps a path below Config.Path ("" for the page) to its file.
var assets = loadAssets()

func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := p[len("static/"):]
		a := asset{body: body, contentType: mime.TypeByExtension(path.Ext(name)), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if name == "index.html" {
			name = ""
		}
		out[name] = a
		return nil
	})
	if err != nil {
		panic("console: embedded files: " + err.Error()) // the build embeds them: a programming error
	}
	return out
}

// contentSecurityPolicy lets the page load its own script, style and
// images and connect to its own origin, and nothing else: no inline script,
// no framing, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveStatic serves the embedded file at name, or 404.
func serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := assets[name]
	if !ok {
		writeError(w, http.StatusNotFound, "not found: %q", r.URL.Path)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("ETag", a.etag)
	// The files change only with the binary; revalidating by ETag is cheap.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
