package wheel

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestClose(t *testing.T) {
	t.Run("idempotent and concurrent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWheel(t, Config{Tick: time.Millisecond}, func(Batch[int]) {})
			w.Schedule(1, int64(time.Second))
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(w.Close)
			}
			wg.Wait()
			w.Close()
			assert.Zero(t, w.Len())
		})
	})

	t.Run("drops pending items and later schedules", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := Config{Tick: 10 * time.Millisecond}
			rec := newRecorder(cfg)
			w := newWheel(t, cfg, rec.expire)
			for i := range 1000 {
				w.Schedule(i, int64(i)*int64(time.Millisecond))
			}
			w.Close()
			assert.Zero(t, w.Len())
			assert.Equal(t, w.SlotFor(12345678), w.Schedule(1, 12345678))
			assert.Equal(t, w.SlotFor(0), w.Schedule(2, 0))
			assert.Zero(t, w.Len())
			time.Sleep(2 * time.Second)
			got, _ := rec.snapshot()
			assert.Empty(t, got)
		})
	})

	t.Run("concurrent with schedule", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := Config{Tick: time.Millisecond, Workers: 2}
			rec := newRecorder(cfg)
			w := newWheel(t, cfg, rec.expire)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for j := range 2000 {
						w.Schedule(g*2000+j, w.Now()+int64(j%5)*int64(time.Millisecond))
						if j%100 == 0 {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			time.Sleep(5 * time.Millisecond)
			w.Close()
			wg.Wait()
			assert.Zero(t, w.Len())
			got, errs := rec.snapshot()
			assert.Empty(t, errs)
			for id, d := range got {
				assert.Len(t, d, 1, "item %d", id)
			}
		})
	})

	t.Run("waits for expire in progress", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			entered := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			w := newWheel(t, Config{Tick: time.Millisecond, Workers: 1, BatchSize: 1}, func(Batch[int]) {
				once.Do(func() { close(entered) })
				<-release
			})
			for i := range 10 {
				w.Schedule(i, 0)
			}
			<-entered
			closed := make(chan struct{})
			go func() {
				w.Close()
				close(closed)
			}()
			synctest.Wait()
			select {
			case <-closed:
				t.Fatal("Close returned while expire was running")
			default:
			}
			close(release)
			<-closed
			assert.Zero(t, w.Len())
		})
	})

	t.Run("no goroutines left", func(t *testing.T) {
		w, err := New(Config{Tick: time.Millisecond, Workers: 3}, func(Batch[int]) {})
		require.NoError(t, err)
		for i := range 100 {
			w.Schedule(i, w.Now()+int64(i%7)*int64(time.Millisecond))
		}
		w.Close()
		goleak.VerifyNone(t)
	})
}
