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

// counts is what one call did: its heartbeats, joins, leaves, timeouts, events
// and channels made or dropped, counted as they happen, on the call's own
// goroutine and without atomics, and added to the engine's counters once, by
// counters.add, after the call has released its locks. Every event the
// engine emits is counted by emit, into the counts of the call that emits it.
type counts [numCounters]int64

// counters are the engine's statistics, striped: a call adds its counts to
// the stripe of a token it takes from the engine's pool, whose per-P caches
// keep handing a P the same token, so that cores counting at once write cache
// lines of their own. Tokens are numbered in turn, so the few that are in use
// at a time fall on different stripes. Reads sum the stripes.
//
// The pool and the numbering belong to one engine: engines in one process
// share nothing. Pins (see pins) take their tokens from the same pool, so a
// call that pinned a keyspace counts on its pin's token.
type counters struct {
	stripes []stripe
	mask    int
	tokens  sync.Pool // *stripeToken
	next    atomic.Int64
}

// stripe is one line of counters.
type stripe struct {
	n [numCounters]atomic.Int64
	_ [64 - numCounters*8]byte
}

// stripeToken is a stripe number held by one goroutine at a time.
type stripeToken struct{ i int }

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

// take returns a token for the calling goroutine; give it back with put.
func (cs *counters) take() *stripeToken {
	if t, ok := cs.tokens.Get().(*stripeToken); ok {
		return t
	}
	return &stripeToken{i: int(cs.next.Add(1))}
}

// put gives a token back.
func (cs *counters) put(t *stripeToken) { cs.tokens.Put(t) }

// add adds t to the counters, on the stripe of tok, or of a token of its own
// if tok is nil. Counters t leaves at zero are not written.
func (cs *counters) add(tok *stripeToken, t *counts) {
	own := tok == nil
	if own {
		tok = cs.take()
	}
	s := &cs.stripes[tok.i&cs.mask]
	// Written out, so that a call that counted two things costs two
	// compares more than two adds, not a loop over every counter.
	add := func(c counter) {
		if d := t[c]; d != 0 {
			s.n[c].Add(d)
		}
	}
	add(cHeartbeats)
	add(cJoins)
	add(cLeaves)
	add(cTimeouts)
	add(cEvents)
	add(cChannels)
	add(cRestored)
	// The list above names every counter: this fails to compile otherwise.
	var _ [numCounters - 7]struct{}
	var _ [7 - numCounters]struct{}
	if own {
		cs.put(tok)
	}
}

// inc adds one to counter c, on the stripe of a token of its own: add for
// a call that counts one thing, the refresh of a present member.
func (cs *counters) inc(c counter) {
	tok := cs.take()
	cs.incOn(tok, c)
	cs.put(tok)
}

// incOn adds one to counter c on the stripe of tok.
func (cs *counters) incOn(tok *stripeToken, c counter) {
	cs.stripes[tok.i&cs.mask].n[c].Add(1)
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
// (from cs) to unpin it with, or false if the keyspace is sealed.
func (p *pins) pin(cs *counters) (*stripeToken, bool) {
	t := cs.take()
	s := &p.stripes[t.i&p.mask]
	s.n.Add(1)
	if p.sealed.Load() {
		s.n.Add(-1)
		cs.put(t)
		return nil, false
	}
	return t, true
}

// unpin ends the call pin registered: it adds the call's counts c, if not
// nil, to cs on the stripe of the token, and gives the token back to cs.
func (p *pins) unpin(cs *counters, t *stripeToken, c *counts) {
	if c != nil {
		cs.add(t, c)
	}
	p.stripes[t.i&p.mask].n.Add(-1)
	cs.put(t)
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
