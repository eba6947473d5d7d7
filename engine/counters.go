package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// counter names one of the engine's statistics.
type counter int

const (
	cHeartbeats counter = iota
	cJoins
	cLeaves
	cTimeouts
	cEvents
	cChannels
	numCounters
)

// counters are the engine's statistics, striped: a goroutine adds to the
// stripe of a token it takes from a sync.Pool, whose per-P caches keep
// handing a P the same token, so that cores counting at once write cache
// lines of their own. Tokens are numbered in turn, so the few that are in use
// at a time fall on different stripes. One add may update two counters for
// the price of one token. Reads sum the stripes.
type counters struct {
	stripes []stripe
	mask    int
}

// stripe is one line of counters.
type stripe struct {
	n [numCounters]atomic.Int64
	_ [64 - numCounters*8]byte
}

type stripeToken struct{ i int }

var (
	stripeTokens sync.Pool // *stripeToken
	stripeNext   atomic.Int64
)

// newCounters returns counters with four stripes per P, rounded up to a power
// of two.
func newCounters() *counters {
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n *= 2
	}
	return &counters{stripes: make([]stripe, n), mask: n - 1}
}

// add adds d to counter c.
func (cs *counters) add(c counter, d int64) {
	t := takeToken()
	cs.stripes[t.i&cs.mask].n[c].Add(d)
	stripeTokens.Put(t)
}

// add2 adds da to counter a and db to counter b (nothing where zero).
func (cs *counters) add2(a counter, da int64, b counter, db int64) {
	t := takeToken()
	s := &cs.stripes[t.i&cs.mask]
	if da != 0 {
		s.n[a].Add(da)
	}
	if db != 0 {
		s.n[b].Add(db)
	}
	stripeTokens.Put(t)
}

func takeToken() *stripeToken {
	if t, ok := stripeTokens.Get().(*stripeToken); ok {
		return t
	}
	return &stripeToken{i: int(stripeNext.Add(1))}
}

// value returns the sum of counter c over the stripes. Under concurrent adds
// it is a value the counter had at some instant during the call, if only
// adds of one sign race it.
func (cs *counters) value(c counter) int64 {
	v := int64(0)
	for i := range cs.stripes {
		v += cs.stripes[i].n[c].Load()
	}
	return v
}

// b2i is 1 for true.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
