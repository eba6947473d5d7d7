package bench

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/presenced/presence/bench/internal/workload"
)

// TestSizeClass checks sizeClass against the allocator: BenchmarkMemory
// subtracts the string bytes it computes.
func TestSizeClass(t *testing.T) {
	for _, n := range []int{workload.UUIDLen, workload.ChannelLen, 17, 100} {
		const count = 20_000
		keep := make([]string, count)
		before := liveHeap()
		for i := range keep {
			keep[i] = strings.Repeat("x", n)
		}
		after := liveHeap()
		runtime.KeepAlive(keep)
		per := float64(after.bytes-before.bytes) / count
		assert.InDelta(t, sizeClass(n), per, 1, "string of %d bytes", n)
	}
}
