package main

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// everyNATS is what the NATS flags of TestParseOptions give.
var everyNATS = natsOptions{
	urls: "nats://h1:4222,nats://h2:4222", creds: "u.creds", tlsCA: "ca.pem", tlsCert: "c.pem", tlsKey: "k.pem",
	bucket: "pres", buckets: 4, replicas: 3, storage: "memory", markerTTL: 5 * time.Second,
	callTimeout: 2 * time.Second, startWait: time.Minute,
}

func TestParseOptions(t *testing.T) {
	defaults := options{
		addr:            "127.0.0.1:8080",
		defaultTimeout:  engine.DefaultTimeout,
		minTimeout:      engine.DefaultMinTimeout,
		maxTimeout:      engine.DefaultMaxTimeout,
		tick:            engine.DefaultTick,
		announceMax:     engine.DefaultAnnounceMax,
		interval:        engine.DefaultInterval,
		logFormat:       "text",
		logLevel:        slog.LevelInfo,
		shutdownTimeout: 10 * time.Second,

		subscribeHold:       httpapi.DefaultSubscribeHold,
		subscribeCacheBytes: httpapi.DefaultSubscribeCacheBytes,
		subscribeCacheAge:   httpapi.DefaultSubscribeCacheAge,

		nats:          natsDefaults,
		stateInterval: defaultStateInterval,
	}
	with := func(f func(*options)) options {
		o := defaults
		f(&o)
		return o
	}

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want options
	}{
		{name: "defaults", want: defaults},
		{
			name: "every NATS flag",
			args: []string{
				"-nats", "nats://h1:4222,nats://h2:4222", "-nats-creds", "u.creds", "-nats-tls-ca", "ca.pem",
				"-nats-tls-cert", "c.pem", "-nats-tls-key", "k.pem", "-nats-bucket", "pres", "-nats-buckets", "4",
				"-nats-replicas", "3", "-nats-storage", "memory", "-nats-marker-ttl", "5s", "-nats-timeout", "2s",
				"-nats-start-timeout", "1m",
			},
			want: with(func(o *options) { o.nats = everyNATS }),
		},
		{
			name: "every NATS variable",
			env: map[string]string{
				"PRESENCED_NATS": "nats://h1:4222,nats://h2:4222", "PRESENCED_NATS_CREDS": "u.creds", "PRESENCED_NATS_TLS_CA": "ca.pem",
				"PRESENCED_NATS_TLS_CERT": "c.pem", "PRESENCED_NATS_TLS_KEY": "k.pem", "PRESENCED_NATS_BUCKET": "pres",
				"PRESENCED_NATS_BUCKETS": "4", "PRESENCED_NATS_REPLICAS": "3", "PRESENCED_NATS_STORAGE": "memory",
				"PRESENCED_NATS_MARKER_TTL": "5", "PRESENCED_NATS_TIMEOUT": "2s", "PRESENCED_NATS_START_TIMEOUT": "1m",
			},
			want: with(func(o *options) { o.nats = everyNATS }),
		},
		{
			name: "every flag",
			args: []string{
				"-addr", ":9000", "-config", "c.json", "-default-timeout", "60s",
				"-min-timeout", "10s", "-max-timeout", "2h", "-tick", "250ms",
				"-announce-max", "-1", "-interval", "5s", "-deltas", "-max-members", "1000",
				"-log-format", "json", "-log-level", "debug", "-shutdown-timeout", "3s",
				"-subscribe-hold", "30s", "-subscribe-cache-bytes", "65536", "-subscribe-cache-age", "90",
				"-no-implicit-heartbeat",
				"-state-file", "/var/lib/presenced/state", "-state-interval", "5m",
			},
			want: options{
				addr: ":9000", configPath: "c.json", defaultTimeout: time.Minute,
				minTimeout: 10 * time.Second, maxTimeout: 2 * time.Hour, tick: 250 * time.Millisecond,
				announceMax: -1, interval: 5 * time.Second, deltas: true, maxMembers: 1000,
				logFormat: "json", logLevel: slog.LevelDebug, shutdownTimeout: 3 * time.Second,
				subscribeHold: 30 * time.Second, subscribeCacheBytes: 65536, subscribeCacheAge: 90 * time.Second,
				noImplicitHeartbeat: true,

				stateFile: "/var/lib/presenced/state", stateInterval: 5 * time.Minute,
				nats: natsDefaults,
			},
		},
		{
			name: "every variable",
			env: map[string]string{
				"PRESENCED_ADDR": ":9000", "PRESENCED_CONFIG": "c.json", "PRESENCED_DEFAULT_TIMEOUT": "60",
				"PRESENCED_MIN_TIMEOUT": "10", "PRESENCED_MAX_TIMEOUT": "2h", "PRESENCED_TICK": "250ms",
				"PRESENCED_ANNOUNCE_MAX": "-1", "PRESENCED_INTERVAL": "5s", "PRESENCED_DELTAS": "true",
				"PRESENCED_MAX_MEMBERS": "1000", "PRESENCED_LOG_FORMAT": "json", "PRESENCED_LOG_LEVEL": "DEBUG",
				"PRESENCED_SHUTDOWN_TIMEOUT": "3s", "PRESENCED_SUBSCRIBE_HOLD": "30", "PRESENCED_SUBSCRIBE_CACHE_BYTES": "65536",
				"PRESENCED_SUBSCRIBE_CACHE_AGE": "90s", "PRESENCED_NO_IMPLICIT_HEARTBEAT": "1",
				"PRESENCED_STATE_FILE": "state.bin", "PRESENCED_STATE_INTERVAL": "0",
			},
			want: options{
				addr: ":9000", configPath: "c.json", defaultTimeout: time.Minute,
				minTimeout: 10 * time.Second, maxTimeout: 2 * time.Hour, tick: 250 * time.Millisecond,
				announceMax: -1, interval: 5 * time.Second, deltas: true, maxMembers: 1000,
				logFormat: "json", logLevel: slog.LevelDebug, shutdownTimeout: 3 * time.Second,
				subscribeHold: 30 * time.Second, subscribeCacheBytes: 65536, subscribeCacheAge: 90 * time.Second,
				noImplicitHeartbeat: true,

				stateFile: "state.bin", stateInterval: 0,
				nats: natsDefaults,
			},
		},
		{
			name: "flag wins over variable",
			args: []string{"-addr", "127.0.0.1:1", "-tick", "2s"},
			env:  map[string]string{"PRESENCED_ADDR": "127.0.0.1:2", "PRESENCED_TICK": "3s", "PRESENCED_INTERVAL": "4s"},
			want: with(func(o *options) { o.addr = "127.0.0.1:1"; o.tick = 2 * time.Second; o.interval = 4 * time.Second }),
		},
		{
			name: "bare seconds",
			args: []string{"-default-timeout", "120", "-min-timeout", "1"},
			want: with(func(o *options) { o.defaultTimeout = 2 * time.Minute; o.minTimeout = time.Second }),
		},
		{
			name: "the engine's bounds, at their edges",
			args: []string{"-min-timeout", "1s", "-max-timeout", "1s", "-tick", "1s", "-interval", "1ms", "-default-timeout", "1ns", "-max-members", "0"},
			want: with(func(o *options) {
				o.minTimeout, o.maxTimeout, o.tick, o.interval, o.defaultTimeout = time.Second, time.Second, time.Second, time.Millisecond, 1
			}),
		},
		{
			name: "empty variable is unset",
			env:  map[string]string{"PRESENCED_ADDR": ""},
			want: defaults,
		},
		{
			name: "unrelated variables are ignored",
			env:  map[string]string{"PRESENCED_SOMETHING_ELSE": "x", "ADDR": ":1"},
			want: defaults,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "unknown flag", args: []string{"-port", "1"}, wantErr: "flag provided but not defined: -port"},
		{name: "bad duration flag", args: []string{"-tick", "soon"}, wantErr: `invalid value "soon" for flag -tick: not a duration`},
		{name: "negative duration", args: []string{"-interval", "-5s"}, wantErr: `invalid value "-5s" for flag -interval: negative duration`},
		{name: "negative seconds", args: []string{"-max-timeout", "-5"}, wantErr: `invalid value "-5" for flag -max-timeout: -5 seconds is out of range`},
		{name: "bad int flag", args: []string{"-max-members", "many"}, wantErr: `invalid value "many" for flag -max-members`},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: `-log-format "xml": want text or json`},
		{name: "bad log level", args: []string{"-log-level", "loud"}, wantErr: `invalid value "loud" for flag -log-level`},
		{name: "zero shutdown timeout", args: []string{"-shutdown-timeout", "0"}, wantErr: "-shutdown-timeout 0s: must be positive"},
		{name: "zero subscribe hold", args: []string{"-subscribe-hold", "0"}, wantErr: "-subscribe-hold 0s: must be positive"},
		{name: "zero subscribe cache bytes", args: []string{"-subscribe-cache-bytes", "0"}, wantErr: "-subscribe-cache-bytes 0: must be positive"},
		{name: "negative subscribe cache bytes", env: map[string]string{"PRESENCED_SUBSCRIBE_CACHE_BYTES": "-1"}, wantErr: "-subscribe-cache-bytes -1: must be positive"},
		{name: "short subscribe cache age", args: []string{"-subscribe-cache-age", "500ms"}, wantErr: "-subscribe-cache-age 500ms: must be at least 1s"},
		{name: "zero default timeout", args: []string{"-default-timeout", "0"}, wantErr: "-default-timeout 0s: must be more than 0"},
		{name: "zero min timeout", args: []string{"-min-timeout", "0"}, wantErr: "-min-timeout 0s: must be at least 1s"},
		{name: "min timeout under 1s", args: []string{"-min-timeout", "999ms"}, wantErr: "-min-timeout 999ms: must be at least 1s"},
		{name: "zero max timeout", args: []string{"-max-timeout", "0"}, wantErr: "-max-timeout 0s: must be at least -min-timeout (20s)"},
		{name: "max timeout under min", args: []string{"-min-timeout", "2h", "-max-timeout", "1h"}, wantErr: "-max-timeout 1h0m0s: must be at least -min-timeout (2h0m0s)"},
		{name: "zero tick", args: []string{"-tick", "0"}, wantErr: "-tick 0s: must be at least 1ms"},
		{name: "tick under 1ms", args: []string{"-tick", "999us"}, wantErr: "-tick 999µs: must be at least 1ms"},
		{name: "tick over min timeout", args: []string{"-min-timeout", "2s", "-tick", "3s"}, wantErr: "-tick 3s: must be at most -min-timeout (2s)"},
		{name: "zero tick variable", env: map[string]string{"PRESENCED_TICK": "0"}, wantErr: "-tick 0s: must be at least 1ms"},
		{name: "zero interval", args: []string{"-interval", "0"}, wantErr: "-interval 0s: must be at least 1ms"},
		{name: "negative max members", args: []string{"-max-members", "-1"}, wantErr: "-max-members -1: must not be negative"},
		{name: "bad implicit heartbeat variable", env: map[string]string{"PRESENCED_NO_IMPLICIT_HEARTBEAT": "perhaps"}, wantErr: "PRESENCED_NO_IMPLICIT_HEARTBEAT"},
		{name: "positional argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		{name: "state interval without state file", args: []string{"-state-interval", "1m"}, wantErr: "-state-interval 1m0s: needs -state-file"},
		{name: "state interval variable without state file", env: map[string]string{"PRESENCED_STATE_INTERVAL": "10"}, wantErr: "-state-interval 10s: needs -state-file"},
		{
			name:    "bad variable names the variable",
			env:     map[string]string{"PRESENCED_TICK": "soon"},
			wantErr: `environment variable PRESENCED_TICK="soon" (flag -tick): not a duration`,
		},
		{
			name:    "bad variable fails even when the flag is given",
			args:    []string{"-deltas=false"},
			env:     map[string]string{"PRESENCED_DELTAS": "maybe"},
			wantErr: `environment variable PRESENCED_DELTAS="maybe"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestParseOptionsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseOptions([]string{"-h"}, func(string) string { return "" }, &out)
	require.ErrorIs(t, err, errHelp)
	for _, want := range []string{
		"Usage: presenced", "PRESENCED_TICK", "-addr", "-config", "-default-timeout", "-min-timeout",
		"-max-timeout", "-tick", "-announce-max", "-interval", "-deltas", "-max-members",
		"-log-format", "-log-level", "-shutdown-timeout", "-subscribe-hold", "-subscribe-cache-bytes",
		"-subscribe-cache-age", "-no-implicit-heartbeat",
	} {
		assert.Contains(t, out.String(), want)
	}
}

// TestEngineFlagsAgreeWithEngine: for values other than 0, which a flag
// refuses and a Config field reads as its default, parseOptions accepts the
// engine's flags exactly when engine.New accepts the configuration they make,
// at the edges of every bound.
func TestEngineFlagsAgreeWithEngine(t *testing.T) {
	durations := []string{"1ns", "999us", "1ms", "2ms", "999ms", "1s", "2s", "20s", "21s", "1h"}
	flags := []string{"-default-timeout", "-min-timeout", "-max-timeout", "-tick", "-interval"}
	var args [][]string
	for _, f := range flags {
		for _, d := range durations {
			args = append(args, []string{f, d})
		}
	}
	// Pairs whose bounds depend on each other.
	for _, min := range []string{"999ms", "1s", "2s", "20s"} {
		for _, d := range durations {
			args = append(args,
				[]string{"-min-timeout", min, "-max-timeout", d},
				[]string{"-min-timeout", min, "-tick", d})
		}
	}
	for _, n := range []string{"-1", "0", "1"} {
		args = append(args, []string{"-max-members", n})
	}
	for _, a := range args {
		o, perr := parseOptions(a, func(string) string { return "" }, &bytes.Buffer{})
		if perr != nil {
			// Build the configuration the flags asked for, bypassing the
			// check, as if it had passed.
			o = defaultsWith(t, a)
		}
		eng, eerr := engine.New(o.engineConfig())
		if eerr == nil {
			require.NoError(t, eng.Close())
		}
		assert.Equal(t, eerr == nil, perr == nil, "%v: flags say %v, engine.New says %v", a, perr, eerr)
	}
}

// defaultsWith returns the options of args without checking them: the
// defaults, with the values args give.
func defaultsWith(t *testing.T, args []string) options {
	t.Helper()
	var o options
	fs := newFlagSet(&o)
	require.NoError(t, fs.Parse(args))
	return o
}

func TestEngineConfig(t *testing.T) {
	o := options{
		defaultTimeout: time.Minute, minTimeout: time.Second, maxTimeout: time.Hour,
		tick: time.Millisecond, announceMax: 7, interval: 3 * time.Second, deltas: true, maxMembers: 9,
	}
	assert.Equal(t, engine.Config{
		DefaultTimeout: time.Minute, MinTimeout: time.Second, MaxTimeout: time.Hour,
		Tick: time.Millisecond, AnnounceMax: 7, Interval: 3 * time.Second, IntervalDeltas: true, MaxMembers: 9,
	}, o.engineConfig())
}
