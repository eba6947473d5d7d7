package events

import (
	"strconv"
	"time"
)

// Timetoken returns the timetoken of t: Unix time in 100 ns units, 17 digits
// for present-day times. It is the one conversion from clock to timetoken;
// the bus stamps events with it, and servers answer "now" with it.
func Timetoken(t time.Time) int64 { return t.UnixNano() / 100 }

// timetokenDigits is the width of a present-day timetoken.
const timetokenDigits = 17

// AppendTimetoken appends tt as a decimal of at least 17 digits, zero-padded
// on the left, so that string order matches numeric order (until the year
// 2286, when timetokens grow an 18th digit). PubNub clients expect
// timetokens as strings of this form. A negative tt is appended unpadded.
func AppendTimetoken(b []byte, tt int64) []byte {
	if tt >= 0 {
		n := 1
		for x := tt; x >= 10; x /= 10 {
			n++
		}
		for ; n < timetokenDigits; n++ {
			b = append(b, '0')
		}
	}
	return strconv.AppendInt(b, tt, 10)
}
