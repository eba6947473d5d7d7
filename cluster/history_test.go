package cluster

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/natstest"
)

// Keys keep several messages (for nodes that read late), each with its own
// TTL, and JetStream writes a timeout marker only when a key's last message
// expires: the newest message of a key must always expire last.

// TestShorterTimeoutTimesOut: a heartbeat with a shorter timeout than the
// one before times the member out at the new deadline, not at the old one.
func TestShorterTimeoutTimesOut(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{})
	rec := record(t, n, events.Filter{SubKey: sk})
	for _, d := range []time.Duration{time.Hour, time.Second} {
		_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"a", "b"}, Timeout: d})
		require.NoError(t, err)
	}
	evs := rec.waitN(t, 4) // long before the hour: at the new deadline
	assert.Equal(t, []string{"join a u occ=1", "join b u occ=1", "timeout a u occ=0", "timeout b u occ=0"}, brief(evs))
	assert.Zero(t, n.Repairs())
}

// TestLeaveOutlivesOlderMessages: a leave's marker stays the key's last
// message until the member's older messages are gone, so the bucket never
// shows a member that left as present again.
func TestLeaveOutlivesOlderMessages(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{}) // MarkerTTL: 1 s
	beat(t, n, "u", "room")              // a minute
	beat(t, n, "u", "room")
	_, err := n.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "u", Channels: []string{"room"}})
	require.NoError(t, err)

	s := n.shards[0]
	m, err := s.stream.GetLastMsgForSubject(bg, s.prefix+memberKey(sk, "room", "u"))
	require.NoError(t, err)
	require.Equal(t, opLeave, opOf(m.Header))
	assert.GreaterOrEqual(t, ttlOfHeader(m.Header), time.Minute, "the marker outlives the minute the member had left")

	_, err = n.SetState(bg, engine.SetStateRequest{SubKey: sk, UUID: "u", Channels: []string{"room"}, State: json.RawMessage(`{"a":1}`)})
	require.ErrorIs(t, err, engine.ErrNotPresent)
	assert.Empty(t, hereNow(t, newNode(t, srv.URL(), Config{}), "room"), "a node started now reads the member as gone")
}

// TestJoinOverALongMarker: a member that left with a long timeout and joins
// again with a short one times out at the short deadline: the join drops
// the leave's marker, which would otherwise outlive it.
func TestJoinOverALongMarker(t *testing.T) {
	srv := natstest.Start(t)
	n := newNode(t, srv.URL(), Config{})
	rec := record(t, n, events.Filter{SubKey: sk})
	beat(t, n, "u", "room") // a minute
	_, err := n.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: "u", Channels: []string{"room"}})
	require.NoError(t, err)
	_, err = n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: "u", Channels: []string{"room"}, Timeout: time.Second})
	require.NoError(t, err)
	evs := rec.waitN(t, 4)
	assert.Equal(t, []string{"join room u occ=1", "leave room u occ=0", "join room u occ=1", "timeout room u occ=0"}, brief(evs))
}
