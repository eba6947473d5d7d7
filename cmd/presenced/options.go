package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presence/console"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// envPrefix starts the environment variable of every flag: -default-timeout is
// PRESENCED_DEFAULT_TIMEOUT.
const envPrefix = "PRESENCED_"

// options is the parsed command line.
type options struct {
	addr            string
	configPath      string
	defaultTimeout  time.Duration
	minTimeout      time.Duration
	maxTimeout      time.Duration
	tick            time.Duration
	announceMax     int
	interval        time.Duration
	deltas          bool
	maxMembers      int
	logFormat       string
	logLevel        slog.Level
	shutdownTimeout time.Duration

	// The subscribe long-poll (httpapi.Config).
	subscribeHold       time.Duration
	subscribeCacheBytes int
	subscribeCacheAge   time.Duration
	noImplicitHeartbeat bool

	// Presence on NATS JetStream (cluster.Node).
	nats natsOptions
	// The state file (see state.go).
	stateFile     string
	stateInterval time.Duration
	// The console (package console): off without a token.
	consoleToken string
}

// errHelp is returned by parseOptions when -h or -help was given and the usage
// has been written.
var errHelp = errors.New("help requested")

// envName returns the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// newFlagSet declares every flag of presenced on a new FlagSet that fills o.
// The defaults shown by -h are the engine's.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("presenced", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage is printed by parseOptions
	fs.Usage = func() {}

	o.addr = "127.0.0.1:8080"
	o.defaultTimeout = engine.DefaultTimeout
	o.minTimeout = engine.DefaultMinTimeout
	o.maxTimeout = engine.DefaultMaxTimeout
	o.tick = engine.DefaultTick
	o.announceMax = engine.DefaultAnnounceMax
	o.interval = engine.DefaultInterval
	o.logFormat = "text"
	o.logLevel = slog.LevelInfo
	o.shutdownTimeout = 10 * time.Second
	o.subscribeHold = httpapi.DefaultSubscribeHold
	o.subscribeCacheBytes = httpapi.DefaultSubscribeCacheBytes
	o.subscribeCacheAge = httpapi.DefaultSubscribeCacheAge
	o.stateInterval = defaultStateInterval

	fs.StringVar(&o.addr, "addr", o.addr, "`host:port` to listen on; port 0 picks a free port (the log line \"listening\" shows it)")
	fs.StringVar(&o.configPath, "config", "", "JSON config `file` with keys and grants (see the package documentation); none serves any sub key, unsigned, to everyone")
	fs.Var((*seconds)(&o.defaultTimeout), "default-timeout", "presence timeout of a heartbeat that names none, clamped to -min-timeout and -max-timeout (`duration`: 300, 300s, 5m; more than 0)")
	fs.Var((*seconds)(&o.minTimeout), "min-timeout", "smallest presence timeout; smaller heartbeat values are raised to it (`duration`, at least 1s)")
	fs.Var((*seconds)(&o.maxTimeout), "max-timeout", "largest presence timeout; larger heartbeat values are lowered to it (`duration`, at least -min-timeout)")
	fs.Var((*seconds)(&o.tick), "tick", "resolution of expiry: a member times out at most one tick after its deadline (`duration`, at least 1ms and at most -min-timeout)")
	fs.IntVar(&o.announceMax, "announce-max", o.announceMax, "occupancy above which a channel sends interval events instead of join/leave/timeout; 0 means 20, negative means always announce")
	fs.Var((*seconds)(&o.interval), "interval", "period of interval events (`duration`, at least 1ms)")
	fs.BoolVar(&o.deltas, "deltas", false, "list joined, left and timed-out uuids in interval events")
	fs.IntVar(&o.maxMembers, "max-members", 0, "most (uuid, channel) memberships held; a join past it is refused; 0 means no bound, negative is refused")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json")
	fs.TextVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn or error")
	fs.Var((*seconds)(&o.shutdownTimeout), "shutdown-timeout", "on SIGINT or SIGTERM, how long to wait for in-flight requests before closing their connections (`duration`)")
	fs.Var((*seconds)(&o.subscribeHold), "subscribe-hold", "how long a subscribe long-poll waits for presence events before answering with none (`duration`)")
	fs.IntVar(&o.subscribeCacheBytes, "subscribe-cache-bytes", o.subscribeCacheBytes, "memory bound, in `bytes`, of the presence events kept per sub key for subscribe long-polls")
	fs.Var((*seconds)(&o.subscribeCacheAge), "subscribe-cache-age", "how long presence events are kept for subscribe long-polls (`duration`, at least 1s); a client further behind is told to refresh")
	fs.BoolVar(&o.noImplicitHeartbeat, "no-implicit-heartbeat", false, "do not count subscribe calls as heartbeats on the plain channels and groups they name")
	addNATSFlags(fs, &o.nats)
	fs.StringVar(&o.stateFile, "state-file", "", "`file` that keeps presence across restarts: restored at start if it exists, written on SIGINT or SIGTERM and every -state-interval; none keeps presence in memory only")
	fs.Var((*seconds)(&o.stateInterval), "state-interval", "how often the state file is written in the background, at most what a crash loses (`duration`); 0 writes it only on shutdown")
	fs.StringVar(&o.consoleToken, "console-token", "", "serve the live console at /console/ behind HTTP basic auth with this `token` as the password (any user name); at least 16 bytes; none: no console. It guards every member's uuid and state: prefer the environment variable to the flag, which other users of the machine can see")
	return fs
}

// parseOptions reads the options from the environment, then from args: a
// PRESENCED_* variable sets a flag's value and the flag, when given, overrides
// it. With -h it writes the usage to stdout and returns errHelp.
func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	var o options
	fs := newFlagSet(&o)

	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if v == "" || err != nil {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("environment variable %s=%q (flag -%s): %w", name, v, f.Name, serr)
		}
	})
	if err != nil {
		return options{}, err
	}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, stdout)
			return options{}, errHelp
		}
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q: presenced takes only flags", fs.Arg(0))
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return options{}, fmt.Errorf("-log-format %q: want text or json", o.logFormat)
	}
	if err := o.nats.check(); err != nil {
		return options{}, err
	}
	if o.nats.urls != "" && o.stateFile != "" {
		return options{}, errors.New("-state-file with -nats: presence is kept in JetStream, which outlives restarts; give one or the other")
	}
	if err := o.checkEngine(); err != nil {
		return options{}, err
	}
	if o.shutdownTimeout <= 0 {
		return options{}, fmt.Errorf("-shutdown-timeout %v: must be positive", o.shutdownTimeout)
	}
	if o.subscribeHold <= 0 {
		return options{}, fmt.Errorf("-subscribe-hold %v: must be positive", o.subscribeHold)
	}
	if o.subscribeCacheBytes <= 0 {
		return options{}, fmt.Errorf("-subscribe-cache-bytes %d: must be positive", o.subscribeCacheBytes)
	}
	if o.consoleToken != "" && len(o.consoleToken) < console.MinTokenLen {
		return options{}, fmt.Errorf("-console-token: %d bytes, at least %d: the token guards every member's uuid and state (make one with: openssl rand -hex 16)", len(o.consoleToken), console.MinTokenLen)
	}
	if o.subscribeCacheAge < time.Second {
		return options{}, fmt.Errorf("-subscribe-cache-age %v: must be at least 1s", o.subscribeCacheAge)
	}
	if o.stateFile == "" {
		intervalSet := false
		fs.Visit(func(f *flag.Flag) { intervalSet = intervalSet || f.Name == "state-interval" })
		if intervalSet {
			return options{}, fmt.Errorf("-state-interval %v: needs -state-file", o.stateInterval)
		}
	}
	return o, nil
}

// checkEngine checks the engine's settings against the bounds engine.New
// enforces, so that an error names the flag rather than the Config field.
// Unlike a zero Config field, a flag set to 0 is not the default (-h shows
// each default): it is refused like any other value out of bounds.
// TestEngineFlagsAgreeWithEngine keeps these bounds and the engine's equal.
func (o options) checkEngine() error {
	switch {
	case o.defaultTimeout <= 0:
		return fmt.Errorf("-default-timeout %v: must be more than 0", o.defaultTimeout)
	case o.minTimeout < time.Second:
		return fmt.Errorf("-min-timeout %v: must be at least 1s", o.minTimeout)
	case o.maxTimeout < o.minTimeout:
		return fmt.Errorf("-max-timeout %v: must be at least -min-timeout (%v)", o.maxTimeout, o.minTimeout)
	case o.tick < time.Millisecond:
		return fmt.Errorf("-tick %v: must be at least 1ms", o.tick)
	case o.tick > o.minTimeout:
		return fmt.Errorf("-tick %v: must be at most -min-timeout (%v)", o.tick, o.minTimeout)
	case o.interval < time.Millisecond:
		return fmt.Errorf("-interval %v: must be at least 1ms", o.interval)
	case o.maxMembers < 0:
		return fmt.Errorf("-max-members %d: must not be negative", o.maxMembers)
	}
	return nil
}

// engineConfig returns the engine configuration the options ask for.
func (o options) engineConfig() engine.Config {
	return engine.Config{
		DefaultTimeout: o.defaultTimeout,
		MinTimeout:     o.minTimeout,
		MaxTimeout:     o.maxTimeout,
		Tick:           o.tick,
		AnnounceMax:    o.announceMax,
		Interval:       o.interval,
		IntervalDeltas: o.deltas,
		MaxMembers:     o.maxMembers,
	}
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: presenced [flags]\n\n")
	fmt.Fprintf(w, "Serves the PubNub-compatible presence API, /metrics and /healthz.\n")
	fmt.Fprintf(w, "Every flag can also be set by an environment variable, -tick by %s and so on;\n", envName("tick"))
	fmt.Fprintf(w, "a flag on the command line wins over its variable. Durations take Go syntax\n")
	fmt.Fprintf(w, "(90s, 5m) or a bare number of seconds.\n\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// seconds is a flag.Value holding a time.Duration that reads Go durations
// ("90s", "5m") and, since PubNub counts presence timeouts in seconds, bare
// integers as seconds ("300").
type seconds time.Duration

func (s *seconds) String() string {
	if s == nil {
		return "0s"
	}
	return time.Duration(*s).String()
}

func (s *seconds) Set(v string) error {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(time.Duration(1<<63-1)/time.Second) {
			return fmt.Errorf("%d seconds is out of range", n)
		}
		*s = seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("not a duration (want e.g. 300, 300s or 5m)")
	}
	if d < 0 {
		return fmt.Errorf("negative duration %v", d)
	}
	*s = seconds(d)
	return nil
}
