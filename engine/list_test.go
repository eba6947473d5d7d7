package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkList fails t unless ch's list holds exactly live, each member at its
// idx, no hole below ch.low, and the holes counted by occupancy.
func checkList(t *testing.T, ch *channel, live map[*member]bool) {
	t.Helper()
	require.Equal(t, len(live), ch.size(), "occupancy")
	seen := 0
	for i, m := range ch.members() {
		if m == nil {
			require.GreaterOrEqual(t, int32(i), ch.low, "a hole below low")
			continue
		}
		require.True(t, live[m], "slot %d holds a member that is not live", i)
		require.Equal(t, int32(i), m.idx, "idx of the member in slot %d", i)
		seen++
	}
	require.Equal(t, len(live), seen, "live members in the list")
}

// placed returns n new members, placed in ch in order.
func placed(ch *channel, n int) []*member {
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = new(member)
		ch.place(ms[i])
	}
	return ms
}

func TestListKeepsMembersAndHoles(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			ch := newChannel(nil, "c")
			live := map[*member]bool{}
			var order []*member // live members, for picking one at random
			for step := range 4000 {
				// Phases of growth and of decline, so that the list both
				// fills its holes and tidies itself.
				joins := 25 // percent of the steps
				if (step/500)%2 == 0 {
					joins = 70
				}
				if len(order) == 0 || r.IntN(100) < joins {
					m := new(member)
					ch.place(m)
					live[m] = true
					order = append(order, m)
				} else {
					k := r.IntN(len(order))
					m := order[k]
					order[k] = order[len(order)-1]
					order = order[:len(order)-1]
					delete(live, m)
					ch.unplace(m)
				}
				checkList(t, ch, live)
				if holes := len(ch.members()) - ch.size(); holes > ch.size()+1 {
					t.Fatalf("step %d: %d holes for %d members: the list did not tidy", step, holes, ch.size())
				}
			}
		})
	}
}

func TestListJoinFillsTheLowestHole(t *testing.T) {
	ch := newChannel(nil, "c")
	ms := placed(ch, 10)
	ch.unplace(ms[2])
	ch.unplace(ms[7])
	assert.Nil(t, ch.members()[2])
	assert.Nil(t, ch.members()[7])
	assert.Same(t, ms[9], ch.members()[9], "a removal moves no other member")
	assert.Len(t, ch.members(), 10)

	a, b, c := new(member), new(member), new(member)
	ch.place(a)
	ch.place(b)
	ch.place(c)
	assert.Equal(t, []int32{2, 7, 10}, []int32{a.idx, b.idx, c.idx})
	assert.Equal(t, 11, ch.size())
}

func TestListGivesMemoryBack(t *testing.T) {
	ch := newChannel(nil, "c")
	ms := placed(ch, 100_000)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	for _, m := range ms[100:] {
		ch.unplace(m)
	}
	live := map[*member]bool{}
	for _, m := range ms[:100] {
		live[m] = true
	}
	checkList(t, ch, live)
	assert.LessOrEqual(t, len(ch.members()), 2*100+1, "list length")
	assert.Less(t, cap(ch.members()), 1024, "list capacity")
}

func TestListPages(t *testing.T) {
	// Every third member leaves from the first-th on: with first 0 the
	// lowest hole is the list's first slot, with 20 the page starts past
	// the live slots below it.
	for _, first := range []int{0, 20} {
		ch := newChannel(nil, "c")
		ms := placed(ch, 50)
		var want []*member
		for i, m := range ms {
			if i >= first && i%3 == 0 {
				ch.unplace(m)
			} else {
				want = append(want, m)
			}
		}
		require.Equal(t, int32(max(first, 0)+(3-first%3)%3), ch.low, "the lowest hole")
		for _, limit := range []int{1, 4, 7, 33, 100} {
			var got []*member
			for offset := 0; offset < ch.size(); offset += limit {
				page := ch.page(offset, limit)
				require.NotEmpty(t, page, "first %d, offset %d, limit %d", first, offset, limit)
				require.LessOrEqual(t, len(page), limit)
				got = append(got, page...)
			}
			assert.Equal(t, want, got, "first %d, limit %d", first, limit)
		}
		for offset := range ch.size() {
			assert.Equal(t, want[offset:min(len(want), offset+5)], ch.page(offset, 5), "first %d, offset %d", first, offset)
		}
		assert.Empty(t, ch.page(ch.size(), 10), "offset at the end")
	}

	// Without holes, a page is part of the list: nothing is copied.
	dense := newChannel(nil, "d")
	ds := placed(dense, 50)
	assert.Equal(t, ds[5:9], dense.page(5, 4))
	assert.Same(t, &dense.members()[5], &dense.page(5, 4)[0])
	assert.Equal(t, ds[45:], dense.page(45, 10))
}

// A list without holes keeps ch.low at its end, whether it grew by joins or
// was restored, so that a page after the first leave starts at its offset
// instead of reading the list from its start.
func TestListWithoutHolesKeepsLowAtItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newEngine(t, Config{})
		for i := range 40 {
			mustBeat(t, a, hb(fmt.Sprintf("u%02d", i), "lobby"))
		}
		lowOf := func(e *Engine) (int32, int) {
			ch := e.keyspace(sk, false).channels.Get("lobby")
			ch.mu.RLock()
			defer ch.mu.RUnlock()
			return ch.low, len(ch.members())
		}
		low, n := lowOf(a)
		assert.Equal(t, int32(40), low, "after joins")
		assert.Equal(t, 40, n)

		snap, _ := snapshot(t, a)
		b, _ := restore(t, Config{}, snap)
		low, n = lowOf(b)
		assert.Equal(t, int32(40), low, "after a restore")
		assert.Equal(t, 40, n)

		_, err := b.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "u30", Channels: []string{"lobby"}})
		require.NoError(t, err)
		low, _ = lowOf(b)
		assert.Equal(t, int32(30), low, "after a leave: its hole")
	})
}
