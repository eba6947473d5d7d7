package httpapi

import (
	"strconv"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/feed"
)

// subscribeRegion is the "r" of every timetoken the subscribe long-poll
// answers with: one region. The JavaScript SDK rejects 0.
const subscribeRegion = 1

// envelopeShard is the "a" (shard) of every envelope, a string as PubNub
// sends it.
const envelopeShard = "0"

// appendPresenceName appends name+"-pnpres" as a JSON string.
func appendPresenceName(b []byte, name string) []byte {
	b = appendString(b, name)
	b = b[:len(b)-1] // the closing quote
	return append(b, engine.PresenceSuffix+`"`...)
}

// appendEnvelopeHead appends the envelope of a presence event up to and
// including its payload, without the subscription match and the closing
// brace, which depend on the request:
//
//	{"a":"0","f":0,"p":{"t":"<timetoken>","r":1},"k":"<sub key>","c":"<channel>-pnpres","d":{...}
//
// It is the feed's encoder: each event is encoded once, however many
// requests it is delivered to.
func appendEnvelopeHead(b []byte, ev *events.Event) []byte {
	b = appendEnvelopeStart(b, ev.Timetoken, ev.SubKey, ev.Channel)
	return appendPayload(b, ev)
}

// appendEnvelopeStart appends an envelope up to its "d" key.
func appendEnvelopeStart(b []byte, tt int64, subKey, channel string) []byte {
	b = append(b, `{"a":"`+envelopeShard+`","f":0,"p":{"t":"`...)
	b = events.AppendTimetoken(b, tt)
	b = append(b, `","r":`...)
	b = strconv.AppendInt(b, subscribeRegion, 10)
	b = append(b, `},"k":`...)
	b = appendString(b, subKey)
	b = append(b, `,"c":`...)
	b = appendPresenceName(b, channel)
	return append(b, `,"d":`...)
}

// appendPayload appends the "d" of a presence event, as PubNub's presence
// service sends it:
//
//	join, leave, timeout   {"action":"join","uuid":"u1","timestamp":1714564800,
//	                        "precise_timestamp":1714564800123,"occupancy":2,"data":{...}}
//	                       ("data", the state, left out when there is none)
//	state-change           the same, "data" the new state ({} when cleared)
//	interval               {"action":"interval","timestamp":1714564800,"occupancy":25,
//	                        "join":["u1"],"leave":["u2"],"timeout":["u3"]}
//	                       (each list left out when empty; "here_now_refresh":true
//	                       instead of the lists when they would exceed 30 KB)
func appendPayload(b []byte, ev *events.Event) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, string(ev.Action))
	if ev.Action == events.Interval {
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, ev.Time.Unix(), 10)
		b = append(b, `,"occupancy":`...)
		b = strconv.AppendInt(b, int64(ev.Occupancy), 10)
		b = appendUUIDList(b, "join", ev.Joined)
		b = appendUUIDList(b, "leave", ev.Left)
		b = appendUUIDList(b, "timeout", ev.TimedOut)
		if ev.HereNowRefresh {
			b = append(b, `,"here_now_refresh":true`...)
		}
		return append(b, '}')
	}
	b = append(b, `,"uuid":`...)
	b = appendString(b, ev.UUID)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ev.Time.Unix(), 10)
	b = append(b, `,"precise_timestamp":`...)
	b = strconv.AppendInt(b, ev.Time.UnixMilli(), 10)
	b = append(b, `,"occupancy":`...)
	b = strconv.AppendInt(b, int64(ev.Occupancy), 10)
	switch {
	case len(ev.State) > 0:
		b = append(b, `,"data":`...)
		b = append(b, ev.State...)
	case ev.Action == events.StateChange:
		b = append(b, `,"data":{}`...)
	}
	return append(b, '}')
}

func appendUUIDList(b []byte, key string, uuids []string) []byte {
	if len(uuids) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendStrings(b, uuids, "")
}

// appendDelivery appends a cached envelope head, the subscription it matched
// and the closing brace.
func appendDelivery(b []byte, d feed.Delivery) []byte {
	b = append(b, d.Body...)
	b = append(b, `,"b":`...)
	b = appendString(b, d.Sub)
	return append(b, '}')
}

// appendRefresh appends the envelope that tells a client it may have missed
// events of a channel: an interval event with here_now_refresh set and the
// channel's occupancy now, at the timetoken up to which events may be
// missing. SDKs surface it as an interval presence event whose
// hereNowRefresh is true; a client should then call Here Now.
func appendRefresh(b []byte, subKey string, st feed.Stale, occupancy int, now time.Time) []byte {
	b = appendEnvelopeStart(b, st.Timetoken, subKey, st.Channel)
	b = append(b, `{"action":"interval","timestamp":`...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, `,"occupancy":`...)
	b = strconv.AppendInt(b, int64(occupancy), 10)
	b = append(b, `,"here_now_refresh":true},"b":`...)
	b = appendString(b, st.Sub)
	return append(b, '}')
}
