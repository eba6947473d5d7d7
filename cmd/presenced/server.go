package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/presenced/presence/console"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// Limits of the HTTP server. See the package documentation for the reasons.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	// writeTimeout bounds the answer to every request but a subscribe
	// long-poll, which moves its own deadline past its hold (httpapi).
	writeTimeout = 30 * time.Second
	idleTimeout  = 120 * time.Second
	// maxHeaderBytes admits request lines well past the 32 KiB URI limit, so
	// that a too-long URI reaches the API handler and gets its 414 in PubNub's
	// shape instead of net/http's bare 431.
	maxHeaderBytes = 64 << 10
)

// run is presenced: it parses args and the environment (getenv), starts the
// engine (restoring -state-file, if given and present) and the HTTP server,
// logs "listening" with the address actually bound, and serves until ctx is
// done. Then it stops accepting connections, waits up to -shutdown-timeout
// for in-flight requests, closes what is left, closes the engine, writes the
// state file and returns nil. Usage (-h) goes to stdout, logs to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := newLogger(stderr, o)

	sc, err := loadConfigFile(o.configPath)
	if err != nil {
		return err
	}

	svc, closeSvc, err := o.startPresence(ctx, logger)
	if err != nil {
		return err
	}
	defer closeSvc()
	var state *stateFile
	if o.stateFile != "" {
		// Restored before anything serves; the background writes stop on
		// every return. parseOptions refuses -state-file with -nats, so
		// this is the in-memory engine.
		eng := svc.(*engine.Engine)
		if state, err = openState(o.stateFile, o.stateInterval, eng, logger); err != nil {
			return err
		}
		state.start()
		defer state.shutdown()
	}

	m := newMetrics(svc)
	if state != nil {
		m.registry.MustRegister(state.metrics.collectors()...)
	}
	observe := m.observe
	if logger.Enabled(ctx, slog.LevelDebug) {
		observe = func(endpoint string, status int, d time.Duration) {
			m.observe(endpoint, status, d)
			logger.Debug("request", "endpoint", endpoint, "status", status, "duration", d)
		}
	}
	api, err := httpapi.New(svc, httpapi.Config{
		Keys:                     sc.keys,
		Authorizer:               sc.authorizer,
		Logger:                   logger,
		Observe:                  observe,
		SubscribeHold:            o.subscribeHold,
		SubscribeCacheBytes:      o.subscribeCacheBytes,
		SubscribeCacheAge:        o.subscribeCacheAge,
		DisableImplicitHeartbeat: o.noImplicitHeartbeat,
		// A node of a cluster shares its presence and cursors with the
		// others, and a server restored from its state file with the
		// process before it: a client resuming with a cursor from either
		// must find the events after it, also those of sub keys no
		// subscribe call has named here yet.
		SubscribeShared: o.nats.urls != "" || o.stateFile != "",
	})
	if err != nil {
		if o.configPath != "" && errors.Is(err, httpapi.ErrInvalidConfig) {
			return fmt.Errorf("config %s: %w", o.configPath, err)
		}
		return fmt.Errorf("http api: %w", err)
	}
	// Closing the API answers the waiting long-polls at once. serve does it
	// when the server starts shutting down; this covers every other return.
	defer api.Close()
	m.watchSubscribe(api)
	con, err := newConsole(svc, o, sc, logger)
	if err != nil {
		return err
	}
	if con != nil {
		defer con.Close()
		logger.Info("console", "path", console.DefaultPath)
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("listening",
		"addr", ln.Addr().String(),
		"keys", len(sc.keys),
		"grants", sc.authorizer != nil)
	root := newRootHandler(api, m.handler())
	if con != nil {
		root.console = con
	}
	// http.Server.Shutdown does not cancel request contexts: without Close,
	// the drain would wait out the hold of every waiting long-poll, and the
	// console's streams, which never end on their own.
	closeAPI := func() {
		_ = api.Close()
		if con != nil {
			_ = con.Close()
		}
	}
	if err := serve(ctx, ln, root, closeAPI, logger, o.shutdownTimeout); err != nil {
		return err
	}
	if state != nil {
		state.shutdown()
	}
	if err := closeSvc(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if state != nil {
		// Closed, the engine changes no more: the file holds presence as
		// the last request left it.
		if err := state.save(); err != nil {
			return err
		}
	}
	logger.Info("stopped")
	return nil
}

// presence is what serves presence: the in-memory engine, or a node of a
// presence kept in NATS JetStream.
type presence interface {
	httpapi.Presence
	Stats() engine.Stats
}

// startPresence starts the engine, or with -nats connects to NATS and starts
// a cluster node. The returned function closes what it started; it may be
// called twice.
func (o options) startPresence(ctx context.Context, logger *slog.Logger) (presence, func() error, error) {
	if o.nats.urls == "" {
		eng, err := engine.New(o.engineConfig())
		if err != nil {
			return nil, nil, fmt.Errorf("engine: %w", err)
		}
		return eng, eng.Close, nil
	}
	nc, err := o.nats.connect(logger)
	if err != nil {
		return nil, nil, err
	}
	node, err := o.startNode(ctx, nc, logger)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	logger.Info("presence in NATS JetStream",
		"nats", redact(o.nats.urls),
		"bucket", node.Config().Bucket,
		"buckets", node.Config().Buckets,
		"replicas", node.Config().Replicas)
	return node, func() error {
		err := node.Close()
		nc.Close()
		return err
	}, nil
}

// serve serves h on ln until ctx is done. Then it stops accepting
// connections, calls onShutdown (if not nil) on a goroutine of its own, waits
// up to drain for in-flight requests to finish and, if some have not, cancels
// their contexts and closes their connections. It returns nil after a
// shutdown, or the error that stopped the server before one.
func serve(ctx context.Context, ln net.Listener, h http.Handler, onShutdown func(), logger *slog.Logger, drain time.Duration) error {
	// Requests run under their own base context, not ctx: a signal must let
	// in-flight requests finish. The base context is cancelled only when the
	// drain times out, just before the remaining connections are closed.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := newHTTPServer(h, logger, baseCtx)
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "drain_timeout", drain)
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), drain)
	defer cancelDrain()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("in-flight requests did not finish in time; closing their connections",
			"drain_timeout", drain, "err", err)
		cancelBase()
		_ = srv.Close() // only closes listeners and connections; their errors tell nothing
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("serve", "err", err)
	}
	return nil
}

// newLogger returns the logger the options ask for, writing to w.
func newLogger(w io.Writer, o options) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// newHTTPServer returns the server with presenced's limits. Its own errors
// (failed accepts, panics in handlers) go to logger at level warn.
func newHTTPServer(h http.Handler, logger *slog.Logger, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// rootHandler serves /metrics and /healthz and hands every other path to the
// presence API. It compares paths itself rather than through http.ServeMux,
// which would clean and redirect PubNub paths (a channel may be named "..").
// It is safe for concurrent use.
//
// It does not end long-polls at shutdown: cancelling their request context
// would make httpapi take the client for gone and write nothing (an empty
// 200). The API's Close, registered with the server's shutdown, answers them
// instead, each with its cursor and no events.
type rootHandler struct {
	api, metrics http.Handler
	// console, if not nil, serves /console and the paths under /console/.
	console http.Handler
}

func newRootHandler(api, metrics http.Handler) *rootHandler {
	return &rootHandler{api: api, metrics: metrics}
}

func (h *rootHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/metrics":
		h.metrics.ServeHTTP(w, r)
		return
	case "/healthz":
		serveHealth(w, r)
		return
	}
	if h.console != nil && isConsolePath(r.URL.Path) {
		h.console.ServeHTTP(w, r)
		return
	}
	h.api.ServeHTTP(w, r)
}

// isConsolePath reports whether path is the console's: /console, or under
// /console/.
func isConsolePath(path string) bool {
	return strings.HasPrefix(path, console.DefaultPath) || path == strings.TrimSuffix(console.DefaultPath, "/")
}

// newConsole returns the console of p the options ask for, nil without a
// token. It offers the config file's sub keys (which the console needs only
// if p is not a console.Inspector).
func newConsole(p httpapi.Presence, o options, sc serverConfig, logger *slog.Logger) (*console.Console, error) {
	if o.consoleToken == "" {
		return nil, nil
	}
	cfg := console.Config{Token: o.consoleToken, Logger: logger}
	for _, k := range sc.keys {
		cfg.SubKeys = append(cfg.SubKeys, k.SubKey)
	}
	con, err := console.New(p, cfg)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return con, nil
}

// serveHealth answers 200 "ok" while the server runs.
func serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "ok\n")
}
