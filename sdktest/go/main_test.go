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
// Every other goroutine still counts as a leak.
var sdkHeartbeatDeadlock = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/pubnub/go.(*HeartbeatManager).stopHeartbeat"),
	goleak.IgnoreAnyFunction("github.com/pubnub/go.(*HeartbeatManager).readHeartBeatTimer.func1.1"),
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, sdkHeartbeatDeadlock...)
}
