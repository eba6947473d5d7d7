package index

import (
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type item struct {
	key string
	n   int
}

func newTable() *Table[item] { return New(func(it *item) string { return it.key }, 64) }

func put(t *Table[item], it *item) { t.Update(it.key, func(*item) *item { return it }) }
func del(t *Table[item], key string) {
	t.Update(key, func(*item) *item { return nil })
}

func TestTableInsertGetDelete(t *testing.T) {
	tab := newTable()
	require.Nil(t, tab.Get("missing"))

	const n = 10000
	for i := range n {
		put(tab, &item{key: "k" + strconv.Itoa(i), n: i})
	}
	require.Equal(t, n, tab.Len())
	for i := range n {
		it := tab.Get("k" + strconv.Itoa(i))
		require.NotNil(t, it, i)
		require.Equal(t, i, it.n)
	}
	for i := 0; i < n; i += 2 {
		del(tab, "k"+strconv.Itoa(i))
	}
	assert.Equal(t, n/2, tab.Len())
	for i := range n {
		it := tab.Get("k" + strconv.Itoa(i))
		if i%2 == 0 {
			assert.Nil(t, it, i)
		} else {
			assert.NotNil(t, it, i)
		}
	}
	seen := 0
	tab.Range(func(*item) bool { seen++; return true })
	assert.Equal(t, n/2, seen)
}

func TestTableUpdateSeesOldAndReplaces(t *testing.T) {
	tab := newTable()
	put(tab, &item{key: "a", n: 1})
	var got *item
	tab.Update("a", func(old *item) *item { got = old; return &item{key: "a", n: 2} })
	require.NotNil(t, got)
	assert.Equal(t, 1, got.n)
	assert.Equal(t, 2, tab.Get("a").n)
	assert.Equal(t, 1, tab.Len())
	tab.Update("b", func(old *item) *item { assert.Nil(t, old); return nil })
	assert.Equal(t, 1, tab.Len())
}

// Churn through many inserts and deletes beside resident keys: the table
// neither fills up nor loses values, every over count stays exact, and an
// emptied shard keeps its smallest table.
func TestTableChurnKeepsOverCountsExact(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 4)
	for i := range 200 {
		put(tab, &item{key: "r" + strconv.Itoa(i)})
	}
	for round := range 200 {
		for i := range 64 {
			put(tab, &item{key: strconv.Itoa(round*64 + i)})
		}
		for i := range 64 {
			del(tab, strconv.Itoa(round*64+i))
		}
		if round%50 == 0 {
			checkOver(t, tab)
		}
	}
	for i := range 200 {
		require.NotNil(t, tab.Get("r"+strconv.Itoa(i)), i)
		del(tab, "r"+strconv.Itoa(i))
	}
	assert.Equal(t, 0, tab.Len())
	checkOver(t, tab)
	for i := range tab.shards {
		if s := tab.shards[i].tab.Load(); s != nil {
			assert.Len(t, s.b, minBuckets, "empty shard %d keeps a grown table", i)
		}
	}
}

// checkOver fails t unless every bucket's over count is the number of
// values stored beyond it whose home bucket is it or one before it.
func checkOver(t *testing.T, tab *Table[item]) {
	t.Helper()
	for s := range tab.shards {
		st := tab.shards[s].tab.Load()
		if st == nil {
			continue
		}
		n := len(st.b)
		want := make([]uint32, n)
		for i := range st.b {
			for j := range bucketSlots {
				if st.b[i].p[j].Load() == nil {
					continue
				}
				for b := home(st.b[i].h[j].Load(), n); b != i; b = (b + 1) % n {
					want[b]++
				}
			}
		}
		for i := range st.b {
			require.Equal(t, want[i], st.b[i].over.Load(), "shard %d, bucket %d of %d", s, i, n)
		}
	}
}

// probes returns the number of buckets a lookup of key reads.
func probes(tab *Table[item], key string) int {
	h, sh := tab.at(NewKey(key))
	st := sh.tab.Load()
	if st == nil {
		return 0
	}
	n := len(st.b)
	for i, read := home(h, n), 1; ; read++ {
		for j := range bucketSlots {
			if p := st.b[i].p[j].Load(); p != nil && p.key == key {
				return read
			}
		}
		if st.b[i].over.Load() == 0 || read == n {
			return read
		}
		i = (i + 1) % n
	}
}

// After long churn at a steady number of keys, lookups still read about one
// bucket, whether the key is there or not: a removal frees its slot, so the
// table does not fill with the marks of removed keys that lookups would
// have to read past.
func TestTableLookupsStayShortUnderChurn(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 1)
	const resident, fresh = 10_000, 1_000
	for i := range resident {
		put(tab, &item{key: "r" + strconv.Itoa(i)})
	}
	next := 0
	for range 100 {
		for i := range fresh {
			put(tab, &item{key: "f" + strconv.Itoa(next+i)})
		}
		for i := range fresh {
			del(tab, "f"+strconv.Itoa(next+i))
		}
		next += fresh
	}
	checkOver(t, tab)
	load := float64(tab.Len()) / float64(len(tab.shards[0].tab.Load().b)*bucketSlots)
	present, absent := 0, 0
	for i := range resident {
		present += probes(tab, "r"+strconv.Itoa(i))
		absent += probes(tab, "a"+strconv.Itoa(i))
	}
	t.Logf("load %.2f: %.3f buckets a hit, %.3f a miss", load, float64(present)/resident, float64(absent)/resident)
	assert.Less(t, float64(present)/resident, 1.25)
	assert.Less(t, float64(absent)/resident, 1.5)
}

// A table that grew and then lost most of its keys gives the room back.
func TestTableShrinks(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 1)
	const n = 10_000
	for i := range n {
		put(tab, &item{key: strconv.Itoa(i)})
	}
	grown := len(tab.shards[0].tab.Load().b)
	for i := range n - 100 {
		del(tab, strconv.Itoa(i))
	}
	checkOver(t, tab)
	assert.Less(t, len(tab.shards[0].tab.Load().b), grown/10)
	for i := n - 100; i < n; i++ {
		require.NotNil(t, tab.Get(strconv.Itoa(i)), i)
	}
}

// A table whose every bucket has a nonzero over count still ends an
// unsuccessful lookup: after one round of its buckets.
func TestTableLookupEndsWhenEveryBucketOverflowed(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 1)
	put(tab, &item{key: "a"})
	st := tab.shards[0].tab.Load()
	for i := range st.b {
		st.b[i].over.Add(1)
	}
	assert.Nil(t, tab.Get("missing"))
	tab.Update("missing", func(old *item) *item { assert.Nil(t, old); return nil })
	assert.NotNil(t, tab.Get("a"))
}

// Churn on the same keys never rebuilds the table: a key removed and
// inserted again takes a slot the removal freed.
func TestTableChurnDoesNotRebuild(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 1)
	for i := range 100 {
		put(tab, &item{key: strconv.Itoa(i)})
	}
	sh := &tab.shards[0]
	slots := sh.tab.Load()
	for round := range 1000 {
		k := strconv.Itoa(round % 100)
		del(tab, k)
		require.Nil(t, tab.Get(k))
		put(tab, &item{key: k, n: round})
		require.Equal(t, round, tab.Get(k).n)
	}
	assert.Same(t, slots, sh.tab.Load(), "no rebuild")
	assert.Equal(t, 100, tab.Len())
	checkOver(t, tab)
}

// Readers of keys that stay find them every time while writers churn other
// keys of the same shards, in slots that removals free and inserts take.
func TestTableReadersDuringChurn(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 2)
	const stable = 500
	for i := range stable {
		put(tab, &item{key: "s" + strconv.Itoa(i), n: i})
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "c" + strconv.Itoa(w) + "/" + strconv.Itoa(i%300)
				put(tab, &item{key: k})
				del(tab, k)
			}
		})
	}
	errs := make(chan string, 1)
	for range 200 {
		for i := range stable {
			if it := tab.Get("s" + strconv.Itoa(i)); it == nil || it.n != i {
				select {
				case errs <- "lost s" + strconv.Itoa(i):
				default:
				}
			}
		}
	}
	close(stop)
	writers.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assert.Equal(t, stable, tab.Len())
	checkOver(t, tab)
}

func TestTableConcurrent(t *testing.T) {
	tab := newTable()
	const workers, keys = 8, 2000
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				k := strconv.Itoa(w) + "/" + strconv.Itoa(i)
				put(tab, &item{key: k, n: i})
				if it := tab.Get(k); it == nil || it.n != i {
					errs <- "lost " + k
					return
				}
				if i%3 == 0 {
					del(tab, k)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	want := workers * (keys - (keys+2)/3)
	assert.Equal(t, want, tab.Len())
}

func TestTableGetDoesNotAllocate(t *testing.T) {
	tab := newTable()
	put(tab, &item{key: "present"})
	allocs := testing.AllocsPerRun(1000, func() {
		_ = tab.Get("present")
		_ = tab.Get("absent")
	})
	assert.Zero(t, allocs)
}

func TestTableKeyIsReusable(t *testing.T) {
	tab := newTable()
	k := NewKey("a")
	require.Nil(t, tab.GetKey(k))
	tab.UpdateKey(k, func(old *item) *item {
		assert.Nil(t, old)
		return &item{key: "a", n: 1}
	})
	require.Same(t, tab.Get("a"), tab.GetKey(k))
	require.Equal(t, 1, tab.GetKey(k).n)
	tab.UpdateKey(k, func(old *item) *item { return nil })
	assert.Nil(t, tab.Get("a"))
	assert.Zero(t, tab.Len())
}

func TestShardIsOneCacheLine(t *testing.T) {
	// Writers of different shards must not share a line: a shard is padded to 64 bytes.
	assert.Equal(t, uintptr(64), unsafe.Sizeof(shard[item]{}))
}

func TestBucketIsOneCacheLine(t *testing.T) {
	assert.Equal(t, uintptr(64), unsafe.Sizeof(bucket[item]{}))
}

// A table of many keys stays between rebuildLoad and maxLoad full, and
// finds every key after the growth that took it there.
func TestTableLoadStaysInBounds(t *testing.T) {
	tab := New(func(it *item) string { return it.key }, 1)
	const n = 50_000
	for i := range n {
		k := "k" + strconv.Itoa(i)
		tab.Update(k, func(*item) *item { return &item{key: k, n: i} })
	}
	sh := &tab.shards[0]
	slots := len(sh.tab.Load().b) * bucketSlots
	load := float64(n) / float64(slots)
	assert.GreaterOrEqual(t, load, rebuildLoad-0.01)
	assert.LessOrEqual(t, load, maxLoad)
	checkOver(t, tab)
	for i := range n {
		it := tab.Get("k" + strconv.Itoa(i))
		require.NotNil(t, it, i)
		require.Equal(t, i, it.n)
	}
}
