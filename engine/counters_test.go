package engine

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

func TestCountersSumConcurrentAdds(t *testing.T) {
	cs := newCounters()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				cs.add(cJoins, 1)
				cs.add2(cLeaves, 2, cEvents, b2i(i%2 == 0))
				cs.add2(cChannels, 1, cChannels, -1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(8000), cs.value(cJoins))
	assert.Equal(t, int64(16000), cs.value(cLeaves))
	assert.Equal(t, int64(4000), cs.value(cEvents))
	assert.Zero(t, cs.value(cChannels))
	assert.Zero(t, cs.value(cTimeouts))
}

func TestCountersStripeIsOneLine(t *testing.T) {
	assert.Equal(t, uintptr(64), unsafe.Sizeof(stripe{}))
	cs := newCounters()
	assert.Zero(t, len(cs.stripes)&(len(cs.stripes)-1), "a power of two")
}

func TestCountersAddDoesNotAllocate(t *testing.T) {
	cs := newCounters()
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		cs.add(cHeartbeats, 1)
		cs.add2(cJoins, 1, cEvents, 1)
	}))
}
