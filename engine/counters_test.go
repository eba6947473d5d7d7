package engine

import (
	"runtime"
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
				cs.add(nil, &counts{cJoins: 1})
				tok := cs.take()
				cs.add(tok, &counts{cLeaves: 2, cEvents: int64(i % 2)})
				cs.put(tok)
				cs.add(nil, &counts{cChannels: 1})
				cs.add(nil, &counts{cChannels: -1})
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
		cs.add(nil, &counts{cHeartbeats: 1})
		cs.add(nil, &counts{cJoins: 1, cEvents: 1})
	}))
}

// Engines share no counter, no token and no token numbering: each numbers
// its own tokens from 1.
func TestCountersArePerEngine(t *testing.T) {
	a, b := newEngine(t, Config{}), newEngine(t, Config{})
	mustBeat(t, a, hb("alice", "lobby"))
	assert.Equal(t, uint64(1), a.Stats().Joins)
	assert.Zero(t, b.Stats().Joins)
	assert.NotSame(t, a.count, b.count)
	ta, tb := a.count.take(), b.count.take()
	assert.Positive(t, ta.i)
	assert.Equal(t, 1, tb.i, "b's first token, whatever a has handed out")
	a.count.put(ta)
	b.count.put(tb)
}

func TestPinsAndSeal(t *testing.T) {
	cs := newCounters()
	p := newPins()
	tok, ok := p.pin(cs)
	require.True(t, ok)
	assert.False(t, p.seal(), "a pinned keyspace cannot be sealed")
	assert.False(t, p.sealed.Load(), "a failed seal is taken back")
	p.unpin(cs, tok, nil)

	require.True(t, p.seal())
	_, ok = p.pin(cs)
	assert.False(t, ok, "a sealed keyspace cannot be pinned")
	p.unseal()
	tok, ok = p.pin(cs)
	require.True(t, ok)
	p.unpin(cs, tok, nil)
}

// TestSealNeverOverlapsAPin races pinners against a sealer and checks both
// sides of the property the sweep relies on: a seal succeeds only while no
// pin is held, and no pin succeeds while a seal holds. Each successful seal
// is held for a while, during which the pinners keep trying; the test
// requires that seals did succeed, and that pins were tried under them.
func TestSealNeverOverlapsAPin(t *testing.T) {
	cs := newCounters()
	p := newPins()
	var (
		inside      atomic.Int64 // pins held, as the pinners see them
		sealedNow   atomic.Bool  // a seal holds, as the sealer sees it
		underSeal   atomic.Int64 // pin attempts made while a seal held
		overlapping atomic.Int64 // pins that succeeded while a seal held
		pinned      atomic.Int64 // pins that succeeded
		stop        atomic.Bool
		wg          sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				during := sealedNow.Load()
				tok, ok := p.pin(cs)
				if during {
					underSeal.Add(1)
				}
				if !ok {
					runtime.Gosched()
					continue
				}
				pinned.Add(1)
				inside.Add(1)
				runtime.Gosched() // hold the pin while others run
				if sealedNow.Load() {
					overlapping.Add(1)
				}
				inside.Add(-1)
				p.unpin(cs, tok, nil)
				runtime.Gosched() // let the sealer find every pin released
			}
		})
	}
	const wantSeals = 200
	seals, overlapped := 0, 0
	for i := 0; seals < wantSeals && i < 1_000_000; i++ {
		runtime.Gosched() // the pinners run between seals
		if !p.seal() {
			continue
		}
		seals++
		sealedNow.Store(true)
		for range 50 {
			if inside.Load() != 0 {
				overlapped++
			}
			runtime.Gosched() // the pinners try while the seal holds
		}
		sealedNow.Store(false)
		p.unseal()
	}
	stop.Store(true)
	wg.Wait()
	require.Equal(t, wantSeals, seals, "seals that succeeded")
	assert.Positive(t, underSeal.Load(), "pins tried while a seal held")
	assert.Positive(t, pinned.Load(), "pins that succeeded")
	assert.Zero(t, overlapped, "seals that succeeded while a pin was held")
	assert.Zero(t, overlapping.Load(), "pins that succeeded while a seal held")
}
