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

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
