package events

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeltasLists(t *testing.T) {
	var d Deltas
	d.Add(Join, "a")
	d.Add(Leave, "b")
	d.Add(Join, "c")
	d.Add(Timeout, "d")
	d.Add(Join, "a") // joined again after the leave: listed again
	assert.Equal(t, 5, d.Len())

	ev := Event{Action: Interval, HereNowRefresh: true}
	d.Take(&ev)
	assert.Equal(t, []string{"a", "c", "a"}, ev.Joined)
	assert.Equal(t, []string{"b"}, ev.Left)
	assert.Equal(t, []string{"d"}, ev.TimedOut)
	assert.False(t, ev.HereNowRefresh)

	assert.Zero(t, d.Len(), "Take resets")
	var next Event
	d.Take(&next)
	assert.Nil(t, next.Joined)
	assert.Nil(t, next.Left)
	assert.Nil(t, next.TimedOut)
	assert.False(t, next.HereNowRefresh)
}

func TestDeltasRefresh(t *testing.T) {
	const uuid = "0b7d4c62-2f59-4e3a-9d6a-5a1f3c8e7b21" // 36 bytes: 39 encoded with comma
	perEntry := len(uuid) + 3
	fit := MaxDeltaBytes / perEntry

	var d Deltas
	actions := []Action{Join, Leave, Timeout}
	for i := range fit {
		d.Add(actions[i%3], uuid)
	}
	ev := Event{Action: Interval}
	snapshot := d
	snapshot.Take(&ev)
	require.False(t, ev.HereNowRefresh, "%d entries fit", fit)
	encoded, err := json.Marshal([][]string{ev.Joined, ev.Left, ev.TimedOut})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(encoded), MaxDeltaBytes+8, "lists stay within the limit")

	d.Add(Join, uuid) // one past the limit
	d.Add(Leave, uuid)
	assert.Equal(t, fit+2, d.Len(), "adds past the limit still count")
	assert.Nil(t, d.joined, "memory freed")
	assert.Nil(t, d.left)
	assert.Nil(t, d.timedOut)

	ev = Event{Action: Interval}
	d.Take(&ev)
	assert.True(t, ev.HereNowRefresh)
	assert.Nil(t, ev.Joined)
	assert.Nil(t, ev.Left)
	assert.Nil(t, ev.TimedOut)

	assert.Zero(t, d.Len(), "Take resets")
	d.Add(Join, uuid)
	ev = Event{Action: Interval}
	d.Take(&ev)
	assert.False(t, ev.HereNowRefresh, "back to lists after Take")
	assert.Equal(t, []string{uuid}, ev.Joined)
}

func TestDeltasSizeCountsEscapes(t *testing.T) {
	// Every '<' encodes as \u003c: 6 bytes. An uuid of 100 of them costs 603
	// bytes with quotes and comma, so 50 fit in 30 KiB and the 51st does not.
	uuid := ""
	for range 100 {
		uuid += "<"
	}
	var d Deltas
	for range 50 {
		d.Add(Join, uuid)
	}
	assert.Equal(t, 50*603, d.size)
	d.Add(Join, uuid)
	ev := Event{}
	d.Take(&ev)
	assert.True(t, ev.HereNowRefresh)
}

func TestDeltasAddPanicsOnOtherActions(t *testing.T) {
	for _, a := range []Action{StateChange, Interval, "", "kick"} {
		t.Run(fmt.Sprintf("action=%q", a), func(t *testing.T) {
			var d Deltas
			assert.Panics(t, func() { d.Add(a, "u") })
			assert.Zero(t, d.Len())
		})
	}
}

func TestJSONStringLen(t *testing.T) {
	tests := []struct {
		name string
		s    string
	}{
		{"empty", ""},
		{"ascii", "user-42"},
		{"uuid", "0b7d4c62-2f59-4e3a-9d6a-5a1f3c8e7b21"},
		{"quote and backslash", `a"b\c`},
		{"short escapes", "\n\r\t\b\f"},
		{"control", "\x00\x01\x1f\x7f"},
		{"html", "<a&b>"},
		{"multibyte", "żółw 🐢 猫"},
		{"line separators", "a\u2028b\u2029c"},
		{"invalid utf-8", "a\xffb\xc3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.s)
			require.NoError(t, err)
			assert.Equal(t, len(want), jsonStringLen(tt.s))
		})
	}
}

func FuzzJSONStringLen(f *testing.F) {
	for _, s := range []string{"", "u", `"\`, "<>&", "\u2028", "\xff", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonStringLen(s); got != len(want) {
			t.Fatalf("jsonStringLen(%q) = %d, encoding/json gives %d", s, got, len(want))
		}
	})
}

func TestDeltasStateRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		fill func(d *Deltas)
	}{
		{"empty", func(*Deltas) {}},
		{"lists", func(d *Deltas) {
			d.Add(Join, "a")
			d.Add(Leave, "b")
			d.Add(Timeout, "c")
			d.Add(Join, "a")
		}},
		{"overflowed", func(d *Deltas) {
			for range MaxDeltaBytes/4 + 1 { // "u", quoted, with a comma: 4 bytes
				d.Add(Join, "u")
			}
			d.Add(Leave, "v")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d, r Deltas
			tt.fill(&d)
			s := d.State()
			r.Add(Join, "left over") // Restore replaces
			r.Restore(s)
			assert.Equal(t, d.Len(), r.Len())
			var want, got Event
			d.Take(&want)
			r.Take(&got)
			assert.Equal(t, want, got)

			// What Restore built takes further adds as the original would.
			tt.fill(&d)
			tt.fill(&r)
			r2 := d.State()
			assert.Equal(t, r2, r.State())
		})
	}
}

func TestDeltasRestoreCopiesAndOverflows(t *testing.T) {
	s := DeltasState{Joined: []string{"a", "b"}, Left: []string{"c"}, Adds: 1}
	var d Deltas
	d.Restore(s)
	s.Joined[0] = "changed"
	assert.Equal(t, 3, d.Len(), "Adds below the lists' length counts the lists")
	var ev Event
	d.Take(&ev)
	assert.Equal(t, []string{"a", "b"}, ev.Joined, "Restore copied the lists")

	// Lists past MaxDeltaBytes, which no Deltas State returns, overflow as
	// adds would have.
	big := DeltasState{TimedOut: make([]string, MaxDeltaBytes/4+1)}
	for i := range big.TimedOut {
		big.TimedOut[i] = "u"
	}
	d.Restore(big)
	d.Take(&ev)
	assert.True(t, ev.HereNowRefresh)
	assert.Nil(t, ev.TimedOut)
}
