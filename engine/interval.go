package engine

import (
	"context"
	"time"
)

// intervalLoop publishes, every Config.Interval, one interval event for each
// channel in interval mode, and drops empty keyspaces. It runs on its own
// goroutine until Close.
func (e *Engine) intervalLoop() {
	defer e.done.Done()
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	var chans []*channel
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		if e.backpressure(context.Background()) != nil {
			continue // closed: e.stop follows
		}
		e.ivMu.Lock()
		chans = chans[:0]
		for ch := range e.ivChans {
			chans = append(chans, ch)
		}
		e.ivMu.Unlock()
		var t counts
		for _, ch := range chans {
			ch.lock()
			if ch.deltas != nil && !ch.dead {
				e.emitInterval(&t, ch)
			}
			ch.mu.Unlock()
		}
		e.count.add(nil, &t)
		clear(chans)
		e.sweep()
	}
}
