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
			args: []string{"-default-timeout", "120", "-min-timeout", "0"},
			want: with(func(o *options) { o.defaultTimeout = 2 * time.Minute; o.minTimeout = 0 }),
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

func TestLongPollWriteTimeout(t *testing.T) {
	for _, hold := range []time.Duration{time.Second, httpapi.DefaultSubscribeHold, time.Hour} {
		o := options{subscribeHold: hold}
		assert.Equal(t, hold+50*time.Second, o.longPollWriteTimeout(), "hold %v", hold)
	}
}
