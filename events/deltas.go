package events

import "unicode/utf8"

// MaxDeltaBytes is the size past which an interval event carries
// HereNowRefresh instead of lists.
const MaxDeltaBytes = 30 * 1024

// Deltas accumulates a channel's joins, leaves and timeouts between interval
// events. It tracks the JSON-encoded size of the lists (each uuid as a quoted
// JSON string plus a comma); once that would exceed MaxDeltaBytes it drops the
// lists and the next interval event carries HereNowRefresh instead.
//
// Deltas is not safe for concurrent use: the caller holds the lock of the
// channel it belongs to. The zero value is ready to use.
type Deltas struct {
	joined, left, timedOut []string
	size                   int  // encoded bytes of the lists
	adds                   int  // adds since the last Take
	refresh                bool // the lists overflowed and were dropped
}

// Add records that uuid joined (Join), left (Leave) or timed out (Timeout).
// Once the lists would exceed MaxDeltaBytes they are dropped and further adds
// are only counted. Add panics on any other action: that is a programming
// error.
func (d *Deltas) Add(a Action, uuid string) {
	var list *[]string
	switch a {
	case Join:
		list = &d.joined
	case Leave:
		list = &d.left
	case Timeout:
		list = &d.timedOut
	default:
		panic("events: Deltas.Add with action " + string(a))
	}
	d.adds++
	if d.refresh {
		return
	}
	size := d.size + jsonStringLen(uuid) + 1
	if size > MaxDeltaBytes {
		d.joined, d.left, d.timedOut = nil, nil, nil
		d.size = 0
		d.refresh = true
		return
	}
	d.size = size
	*list = append(*list, uuid)
}

// Len returns the number of adds since the last Take.
func (d *Deltas) Len() int {
	return d.adds
}

// Take moves the lists into ev.Joined, ev.Left and ev.TimedOut, or sets
// ev.HereNowRefresh (with nil lists) if they overflowed, and resets d. A list
// with no entries is nil.
func (d *Deltas) Take(ev *Event) {
	if d.refresh {
		ev.Joined, ev.Left, ev.TimedOut = nil, nil, nil
		ev.HereNowRefresh = true
	} else {
		ev.Joined, ev.Left, ev.TimedOut = d.joined, d.left, d.timedOut
		ev.HereNowRefresh = false
	}
	*d = Deltas{}
}

// jsonStringLen returns the length of s encoded as a JSON string, quotes
// included, as encoding/json encodes it by default (HTML-safe, invalid UTF-8
// replaced by U+FFFD). It never underestimates an encoder that does not escape
// HTML.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6 // \u00XX
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6 // \u2028, \u2029
		default:
			n += size
		}
		i += size
	}
	return n
}

// DeltasState is the content of a Deltas, to save it and to restore it later
// (see Deltas.State and Deltas.Restore), as the engine does across a restart.
type DeltasState struct {
	// Joined, Left and TimedOut are the uuids recorded since the last Take,
	// in the order they were added; nil when Overflowed.
	Joined, Left, TimedOut []string
	// Overflowed is set once the lists would have exceeded MaxDeltaBytes and
	// were dropped: the next interval event carries HereNowRefresh.
	Overflowed bool
	// Adds is the number of adds since the last Take (Len), at least the
	// length of the three lists together.
	Adds int
}

// State returns what d holds. The lists are d's own: the caller must not
// modify them, and may keep them (Add only appends past them, Take starts new
// ones).
func (d *Deltas) State() DeltasState {
	return DeltasState{
		Joined:     d.joined,
		Left:       d.left,
		TimedOut:   d.timedOut,
		Overflowed: d.refresh,
		Adds:       d.adds,
	}
}

// Restore replaces what d holds with s, as if its uuids had been added in
// turn: lists that would exceed MaxDeltaBytes overflow, and Adds below the
// length of the lists counts them. It copies the lists.
func (d *Deltas) Restore(s DeltasState) {
	*d = Deltas{}
	switch {
	case s.Overflowed:
		d.refresh = true
		d.adds = 1 // at least the add that overflowed
	default:
		for _, l := range [...]struct {
			a     Action
			uuids []string
		}{{Join, s.Joined}, {Leave, s.Left}, {Timeout, s.TimedOut}} {
			for _, u := range l.uuids {
				d.Add(l.a, u)
			}
		}
	}
	d.adds = max(d.adds, s.Adds)
}
