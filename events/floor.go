package events

// RaiseFloor makes every timetoken the bus assigns after it returns, to any
// sub key, greater than tt: a sub key's next timetoken is the largest of the
// clock's, its previous one plus one, and tt plus one. A floor at or below
// the current one changes nothing.
//
// It is how a process that restores presence saved by an earlier one keeps
// timetokens moving forward across the restart, whatever the clocks did
// meanwhile: a subscriber that resumes with a cursor from before the restart
// then never sees an event with an older timetoken than its cursor. Pass it
// the LastTimetoken of the earlier bus.
//
// RaiseFloor is safe for concurrent use. An event published while it runs may
// or may not be above tt; raise the floor before publishing starts.
func (b *Bus) RaiseFloor(tt int64) {
	b.floorMu.Lock()
	defer b.floorMu.Unlock()
	if tt <= b.floor {
		return
	}
	b.floor = tt
	// A sub key created from now on starts at the floor (see keyState);
	// those created before are raised here.
	b.keys.Range(func(_ string, ks *keyState) bool {
		ks.mu.Lock()
		ks.last = max(ks.last, tt)
		ks.mu.Unlock()
		return true
	})
}

// LastTimetoken returns the greatest timetoken the bus has assigned so far,
// to any sub key, or its floor (see RaiseFloor) if that is greater; 0 for a
// new bus. Every event published before the call has a timetoken at most
// the result. It takes each sub key's lock in turn, so its cost grows with
// the number of sub keys ever published to.
func (b *Bus) LastTimetoken() int64 {
	b.floorMu.Lock()
	last := b.floor
	b.floorMu.Unlock()
	b.keys.Range(func(_ string, ks *keyState) bool {
		ks.mu.Lock()
		last = max(last, ks.last)
		ks.mu.Unlock()
		return true
	})
	return last
}
