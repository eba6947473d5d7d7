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
	cRestored // memberships restored from a snapshot
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

// newCounters returns counters with stripesPerEngine stripes.
func newCounters() *counters {
	n := stripesPerEngine()
	return &counters{stripes: make([]stripe, n), mask: n - 1}
}

// stripesPerEngine is four stripes per P, rounded up to a power of two.
func stripesPerEngine() int {
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n *= 2
	}
	return n
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
	cs.addWith(t, a, da, b, db)
	stripeTokens.Put(t)
}

// addWith is add2 on the stripe of a token the caller holds already (one of
// pins.pin), which saves taking one.
func (cs *counters) addWith(t *stripeToken, a counter, da int64, b counter, db int64) {
	s := &cs.stripes[t.i&cs.mask]
	if da != 0 {
		s.n[a].Add(da)
	}
	if db != 0 {
		s.n[b].Add(db)
	}
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

// pins counts the calls that are adding to a keyspace, striped like counters,
// so that joins on different cores share no line. Together with sealed, it
// lets the sweep drop an empty keyspace without a lock on the join path: a
// call adds one to its stripe and then checks sealed; the sweep sets sealed
// and then sums the stripes. Of two that race, at least one sees the other.
type pins struct {
	stripes []pinStripe
	mask    int
	sealed  atomic.Bool
}

type pinStripe struct {
	n atomic.Int64
	_ [56]byte
}

func newPins() pins {
	n := stripesPerEngine()
	return pins{stripes: make([]pinStripe, n), mask: n - 1}
}

// pin registers a call that will add to the keyspace and returns the token
// to unpin it with, or false if the keyspace is sealed.
func (p *pins) pin() (*stripeToken, bool) {
	t := takeToken()
	s := &p.stripes[t.i&p.mask]
	s.n.Add(1)
	if p.sealed.Load() {
		s.n.Add(-1)
		stripeTokens.Put(t)
		return nil, false
	}
	return t, true
}

// unpin ends the call pin registered.
func (p *pins) unpin(t *stripeToken) {
	p.stripes[t.i&p.mask].n.Add(-1)
	stripeTokens.Put(t)
}

// seal stops pins from succeeding and reports true if no call holds one; if
// some call does, it takes the seal back and reports false.
func (p *pins) seal() bool {
	p.sealed.Store(true)
	for i := range p.stripes {
		if p.stripes[i].n.Load() != 0 {
			p.sealed.Store(false)
			return false
		}
	}
	return true
}

// unseal lets pins succeed again.
func (p *pins) unseal() { p.sealed.Store(false) }
