package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/internal/natstest"
)

// TestTwoServersOnNATS runs two presenced on one NATS server: a heartbeat
// through one is seen by the other, and a subscriber of the second sees the
// join, with the timetoken the first would give.
func TestTwoServersOnNATS(t *testing.T) {
	ns := natstest.Start(t)
	args := []string{"-nats", ns.URL(), "-min-timeout", "1s", "-nats-storage", "memory"}
	a := startServer(t, nil, args...)
	b := startServer(t, map[string]string{"PRESENCED_NATS": ns.URL()}, "-min-timeout", "1s", "-nats-storage", "memory")
	assert.Contains(t, a.log.String(), "presence in NATS JetStream")

	tt := subscribeHandshake(t, "http://"+b.addr, "lobby-pnpres")
	poll := getAsync("http://" + b.addr + "/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt=" + tt)

	status, body := get(t, "http://"+a.addr+"/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60")
	require.Equal(t, http.StatusOK, status, body)
	status, body = get(t, "http://"+a.addr+"/v2/presence/sub-key/demo/channel/lobby")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"uuids":["alice"],"occupancy":1`, "read-your-writes")
	require.True(t, waitUntil(func() bool {
		_, body := get(t, "http://"+b.addr+"/v2/presence/sub-key/demo/channel/lobby")
		return strings.Contains(body, `"uuids":["alice"]`)
	}), "the other server sees alice")

	r := <-poll
	require.NoError(t, r.err)
	var ans struct {
		M []struct {
			D struct{ Action, UUID string }
			P struct{ T string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &ans), r.body)
	require.Len(t, ans.M, 1, r.body)
	assert.Equal(t, "join", ans.M[0].D.Action)
	assert.Equal(t, "alice", ans.M[0].D.UUID)

	// The same cursor on the first server gives the same event.
	status, body = get(t, "http://"+a.addr+"/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt="+tt)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"p":{"t":"`+ans.M[0].P.T+`"`)

	status, body = get(t, "http://"+a.addr+"/metrics")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "0", metricLines(body)["presenced_cluster_repairs_total"], "a node that keeps up repairs nothing")
	assert.Equal(t, "1", metricLines(body)["presenced_members"])

	require.NoError(t, a.stop())
	require.NoError(t, b.stop())
}

// TestNATSFlagErrors: bad NATS flags are refused before anything starts.
func TestNATSFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-nats", "nats://127.0.0.1:1", "-nats-storage", "disk"}, `-nats-storage "disk": want file or memory`},
		{[]string{"-nats", "nats://127.0.0.1:1", "-nats-tls-cert", "c.pem"}, "-nats-tls-cert and -nats-tls-key: give both or neither"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-nats-timeout", "0"}, "-nats-timeout 0s: must be positive"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-state-file", "s"}, "-state-file with -nats"},
	}
	for _, tt := range tests {
		_, err := parseOptions(tt.args, func(string) string { return "" }, new(strings.Builder))
		require.Error(t, err, tt.args)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "nats://***@h1:4222,nats://h2:4222", redact("nats://u:secret@h1:4222,nats://h2:4222"))
}
