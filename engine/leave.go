package engine

import (
	"context"

	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/index"
	"github.com/presenced/presence/wheel"
)

// LeaveRequest asks for uuid UUID to leave Channels and every channel of
// Groups.
type LeaveRequest struct {
	SubKey   string
	UUID     string
	Channels []string
	Groups   []string
	// Expanded, if not nil, is Channels and Groups as the caller resolved
	// them with Expand: the call acts on exactly those channels instead of
	// reading the groups again. Its names are checked like the call's.
	Expanded *Expansion
}

// LeaveResult tells what a leave did.
type LeaveResult struct {
	// Left lists the channels the uuid was on and left, in the order of the
	// call; channels it was not on are left out. The names are the engine's
	// copies, and a list of one channel is shared by every result that names
	// that channel alone, so that a leave does not allocate: treat Left as
	// read-only.
	Left []string
}

// Leave removes r.UUID from r's channels, each with a leave event carrying the
// state the member had. Leaving a channel one is not on is a no-op. Errors are
// those of Heartbeat's validation.
func (e *Engine) Leave(ctx context.Context, r LeaveRequest) (LeaveResult, error) {
	if e.closed.Load() {
		return LeaveResult{}, ErrClosed
	}
	// Looked up first, so that validation skips the names the engine holds
	// (see validateCall).
	key := index.NewKey(r.UUID)
	ks := e.keyspace(r.SubKey, false)
	var c *client
	if ks != nil {
		c = ks.clients.GetKey(key)
	}
	if err := e.validateCall(held{ks: ks, c: c}, r.SubKey, r.UUID, r.Channels, r.Groups, r.Expanded); err != nil {
		return LeaveResult{}, err
	}
	if c == nil {
		return LeaveResult{}, nil
	}
	targets := r.Channels
	if len(r.Groups) > 0 || r.Expanded != nil {
		targets, _ = ks.targets(r.Channels, r.Groups, r.Expanded, false)
	}
	if err := e.backpressure(ctx); err != nil {
		return LeaveResult{}, err
	}
	var (
		res LeaveResult
		t   counts
	)
	for _, name := range targets {
		// The member is found without a lock; under its channel's lock, the
		// swap to removed tells whether it was still present. If it ended
		// meanwhile, the uuid was absent at some instant of this call, and a
		// member that joined since is not this call's to remove.
		m := c.find(name)
		if m == nil {
			continue
		}
		ch := m.ch
		ch.lock()
		left := m.deadline.Swap(removed) != removed
		if left {
			t[cLeaves]++
			e.removeLocked(&t, ch, m, events.Leave)
		}
		ch.mu.Unlock()
		if left {
			e.retire(m, key)
			res.Left = ch.appendName(res.Left)
		}
	}
	e.count.add(nil, &t)
	return res, nil
}

// removeLocked takes m, whose deadline the caller has just swapped to removed,
// out of ch and announces a (a leave or a timeout) with the state m had,
// counting into t. A channel left empty is dropped. Under ch.mu. The caller
// then unlinks m from its client (see unlink) and gives its room back to
// MaxMembers, with or without the lock.
func (e *Engine) removeLocked(t *counts, ch *channel, m *member, a events.Action) {
	ch.unplace(m)

	st := ch.state[m]
	delete(ch.state, m)
	e.announce(t, ch, a, m.c.id(), st)
	e.dropIfEmptyLocked(t, ch)
}

// retire finishes the removal of m that removeLocked began: it unlinks m
// from its client (see unlink) and gives its room back to MaxMembers. uuid is
// m's uuid, hashed.
func (e *Engine) retire(m *member, uuid index.Key) {
	unlink(m, uuid)
	e.unreserve(1)
}

// unlink takes m, removed, out of its client's memberships, and the client
// out of the index if none of them is live any more. Until then lookups skip
// m (see client.find), so unlink needs no channel lock: leaves and timeouts
// unlink after the lock, to keep the channel's critical section short. The
// client may have left the index already, with another removed member: then
// there is nothing to do. uuid is m's uuid, hashed.
func unlink(m *member, uuid index.Key) {
	m.ch.ks.clients.UpdateKey(uuid, func(c *client) *client {
		if c != m.c {
			return c // m's client left the index with its last live member
		}
		if c.remove(m) {
			return nil
		}
		return c
	})
}

// dropIfEmptyLocked drops ch from its keyspace if it has no member left,
// counting into t. Under ch.mu.
func (e *Engine) dropIfEmptyLocked(t *counts, ch *channel) {
	if ch.size() == 0 && !ch.dead {
		ch.dead = true
		ch.list, ch.low = slim[*member]{}, 0
		ch.state = nil
		// ch.deltas is nil: at occupancy 0, announce has left interval mode.
		ch.ks.channels.DeleteIf(ch.name, ch)
		t[cChannels]--
	}
}

// expire is the wheel's callback: it times out the members of b whose deadline
// has passed and files the others again by their current deadline. It runs on
// a wheel worker, with no engine lock held on entry.
//
// The members it times out are unlinked from their uuids' records after
// their channel's lock, as a leave's are: each unlinking is a lookup that
// misses the cache, and meanwhile another worker can hold the lock for the
// next batch. They are kept at the front of b.Items until then. The batch is
// counted once, at its end.
func (e *Engine) expire(b wheel.Batch[*member]) {
	if e.backpressure(context.Background()) != nil {
		return // closed
	}
	slot := uint32(b.Slot)
	out := b.Items[:0] // the members timed out under cur's lock, not unlinked
	var (
		cur *channel
		t   counts
	)
	for _, m := range b.Items {
		if m.ch != cur {
			if cur != nil {
				cur.mu.Unlock()
				out = unlinkAll(out)
			}
			cur = m.ch
			cur.lock()
		}
		if m.slot != slot {
			continue // filed again elsewhere since: a stale entry
		}
		for {
			d := m.deadline.Load()
			if d == removed {
				break
			}
			if d > b.Now {
				m.slot = uint32(e.wheel.Schedule(m, d))
				break
			}
			if m.deadline.CompareAndSwap(d, removed) {
				t[cTimeouts]++
				e.removeLocked(&t, cur, m, events.Timeout)
				out = append(out, m) // in place: out is never longer than the items read
				break
			}
		}
	}
	if cur != nil {
		cur.mu.Unlock()
		unlinkAll(out)
	}
	e.unreserve(int(t[cTimeouts]))
	e.count.add(nil, &t)
}

// unlinkAll unlinks every member of ms (see unlink) and returns ms emptied.
func unlinkAll(ms []*member) []*member {
	for _, m := range ms {
		unlink(m, index.NewKey(m.c.id()))
	}
	clear(ms)
	return ms[:0]
}
