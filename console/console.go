package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presence/httpapi"
)

// Defaults of zero Config fields.
const (
	DefaultPath         = "/console/"
	DefaultSamplePeriod = time.Second
	DefaultHistory      = 10 * time.Minute
	DefaultLinger       = 10 * time.Minute
	DefaultMaxStreams   = 16
)

// MinTokenLen is the shortest Config.Token accepted. The token guards every
// member's uuid and state: a short one could be guessed.
const MinTokenLen = 16

// ErrInvalidConfig is returned, wrapped with the field at fault, by New.
var ErrInvalidConfig = errors.New("console: invalid config")

// Config configures a Console. The zero value of every field but Token
// takes the default its comment gives.
type Config struct {
	// Token is the password of the console's HTTP basic authentication (any
	// user name is accepted with it). Required, at least MinTokenLen bytes.
	Token string
	// Path is where the console is mounted: the Console serves the paths
	// that start with it. It must start and end with "/". Zero means
	// DefaultPath, "/console/".
	Path string
	// SubKeys are offered in the console besides those it finds. Only a
	// service that is not an Inspector needs them: the console then knows
	// only these and the sub keys it has seen events of.
	SubKeys []string

	// SamplePeriod is how often the totals of every sub key are read for
	// the charts, at the least: the console reads them less often when a
	// read is slow (see "Cost" in the package documentation). Zero means
	// 1 s; otherwise at least 10 ms.
	SamplePeriod time.Duration
	// History is how much of the charts is kept. Zero means 10 min;
	// otherwise at least SamplePeriod.
	History time.Duration
	// Linger is how long the console keeps sampling and watching events
	// after the last page watching it has gone, so that a reload finds its
	// charts. Zero means 10 min; negative means it stops at once.
	Linger time.Duration
	// MaxStreams bounds the live streams (pages) open at once; past it a
	// stream is refused with 503. Zero means 16.
	MaxStreams int

	// Now is the wall clock of the charts and the countdowns. Nil means
	// time.Now.
	Now func() time.Time
	// Logger receives the console's few messages (a stream that could not
	// be written, a read of the service that failed). Nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.SamplePeriod == 0 {
		c.SamplePeriod = DefaultSamplePeriod
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bad := func(field string, v any, why string) (Config, error) {
		return c, fmt.Errorf("%w: %s %v %s", ErrInvalidConfig, field, v, why)
	}
	switch {
	case len(c.Token) < MinTokenLen:
		return bad("Token", fmt.Sprintf("of %d bytes", len(c.Token)), fmt.Sprintf("is shorter than %d bytes", MinTokenLen))
	case !strings.HasPrefix(c.Path, "/") || !strings.HasSuffix(c.Path, "/"):
		return bad("Path", fmt.Sprintf("%q", c.Path), `does not start and end with "/"`)
	case c.SamplePeriod < 10*time.Millisecond:
		return bad("SamplePeriod", c.SamplePeriod, "is below 10ms")
	case c.History < c.SamplePeriod:
		return bad("History", c.History, "is below SamplePeriod")
	case c.MaxStreams < 0:
		return bad("MaxStreams", c.MaxStreams, "is negative")
	}
	for _, sk := range c.SubKeys {
		if err := validSubKey(sk); err != nil {
			return c, fmt.Errorf("%w: SubKeys: %w", ErrInvalidConfig, err)
		}
	}
	return c, nil
}

// Console is the live presence console: an http.Handler serving its page and
// the page's JSON and event-stream endpoints under Config.Path, behind HTTP
// basic authentication. Create it with New and Close it when the server
// shuts down. A Console is safe for concurrent use.
type Console struct {
	cfg      Config
	src      *source
	hub      *hub
	tokenSum [sha256.Size]byte

	closeOnce sync.Once
	closing   chan struct{}
	streams   sync.WaitGroup
}

// New returns a console of p. It starts nothing: the console watches p's
// events and samples its totals only while a page is open (and Config.Linger
// after). If p is also an Inspector, the console reads totals, the busiest
// channels and each member's time left through it; otherwise it falls back
// on p's HereNow (see Inspector).
func New(p httpapi.Presence, cfg Config) (*Console, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: the presence service is nil", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg:      cfg,
		tokenSum: sha256.Sum256([]byte(cfg.Token)),
		closing:  make(chan struct{}),
	}
	c.src = newSource(p, cfg.SubKeys)
	c.hub = newHub(c)
	return c, nil
}

// Close ends every open stream, stops watching events and sampling, and
// waits for the streams' handlers to return and the goroutines the console
// started to exit. Afterwards the console answers 503. Close is idempotent
// and safe while requests run; it returns nil.
func (c *Console) Close() error {
	c.closeOnce.Do(func() {
		c.hub.markClosed() // no stream starts after this
		close(c.closing)
		c.streams.Wait()
		c.hub.close()
	})
	return nil
}

// closed reports whether Close has begun.
func (c *Console) closed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// ServeHTTP serves the console. Every request must carry HTTP basic
// credentials whose password is the token; any other gets 401 with a
// WWW-Authenticate challenge before anything else is looked at.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !c.authorized(r) {
		h.Set("WWW-Authenticate", `Basic realm="presenced console", charset="UTF-8"`)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "401 Unauthorized: the console needs the token as the password\n")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method %s not allowed: the console only reads", r.Method)
		return
	}
	if c.closed() {
		writeError(w, http.StatusServiceUnavailable, "the console is shutting down")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, c.cfg.Path)
	if !ok {
		if r.URL.Path+"/" == c.cfg.Path {
			http.Redirect(w, r, c.cfg.Path, http.StatusMovedPermanently)
			return
		}
		writeError(w, http.StatusNotFound, "not found: %q", r.URL.Path)
		return
	}
	switch rest {
	case "api/subkeys":
		c.serveSubKeys(w, r)
	case "api/channels":
		c.serveChannels(w, r)
	case "api/members":
		c.serveMembers(w, r)
	case "api/uuid":
		c.serveUUID(w, r)
	case "api/stream":
		c.serveStream(w, r)
	default:
		serveStatic(w, r, rest)
	}
}

// authorized reports whether r carries basic credentials with the token as
// password. The comparison is of SHA-256 digests, in constant time, so that
// neither the token's bytes nor its length show in the time it takes.
func (c *Console) authorized(r *http.Request) bool {
	_, pass, ok := r.BasicAuth()
	sum := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare(sum[:], c.tokenSum[:]) == 1 && ok
}
