package engine

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestPinsAndSeal(t *testing.T) {
	p := newPins()
	tok, ok := p.pin()
	require.True(t, ok)
	assert.False(t, p.seal(), "a pinned keyspace cannot be sealed")
	assert.False(t, p.sealed.Load(), "a failed seal is taken back")
	p.unpin(tok)

	require.True(t, p.seal())
	_, ok = p.pin()
	assert.False(t, ok, "a sealed keyspace cannot be pinned")
	p.unseal()
	tok, ok = p.pin()
	require.True(t, ok)
	p.unpin(tok)
}

func TestSealNeverOverlapsAPin(t *testing.T) {
	p := newPins()
	var inside atomic.Int64 // pins held, as the callers see them
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tok, ok := p.pin(); ok {
					inside.Add(1)
					inside.Add(-1)
					p.unpin(tok)
				}
			}
		})
	}
	sealed := 0
	for range 20000 {
		if p.seal() {
			sealed++
			assert.Zero(t, inside.Load(), "sealed while a pin was held")
			p.unseal()
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("sealed %d times", sealed)
}
