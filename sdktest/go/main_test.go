package sdktest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Bounds of the waits in these tests.
const (
	waitTimeout  = 10 * time.Second
	pollInterval = 10 * time.Millisecond
)

// sdkHeartbeatDeadlock names the two goroutines the SDK's heartbeat manager
// (v4.10.0, heartbeat_manager.go) leaves deadlocked when two of its
// stopHeartbeat calls overlap, as Destroy's does with the one a subscribe
// starts on a goroutine of its own: the second caller sends on the loop's
// unbuffered done channel while holding the manager's lock, and the loop,
// which took the first caller's send and left, waits for that lock in its
// deferred clean-up. Nothing in the client or the server can release them.
var sdkHeartbeatDeadlock = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/pubnub/go.(*HeartbeatManager).stopHeartbeat"),
	goleak.IgnoreAnyFunction("github.com/pubnub/go.(*HeartbeatManager).readHeartBeatTimer.func1.1"),
}

// sdkHeartbeatLateStart names the heartbeat loop the SDK (v4.10.0,
// subscription_manager.go) starts on a goroutine of its own once a
// subscription connects or reconnects (go startHeartbeatTimer): when Destroy
// runs before that goroutine does, Destroy finds no loop to stop, and the
// loop then starts and waits for a stop that never comes. Seen once in
// eighteen runs of the suite, on a busy machine.
var sdkHeartbeatLateStart = goleak.IgnoreTopFunction("github.com/pubnub/go.(*HeartbeatManager).readHeartBeatTimer.func1")

// Every goroutine but those above counts as a leak.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(sdkHeartbeatDeadlock, sdkHeartbeatLateStart)...)
}
