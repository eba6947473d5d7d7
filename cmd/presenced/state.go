package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presence/engine"
)

// defaultStateInterval is the period of the background writes of the state
// file: a crash loses at most this much of the changes to presence, and a
// write of a million members costs a fraction of a second of one core.
const defaultStateInterval = 30 * time.Second

// stateTempPrefix and stateTempSuffix surround the random part of the name
// of a state file being written, beside it: ".state.tmp-123456" for
// "state".
const (
	stateTempPrefix = "."
	stateTempSuffix = ".tmp-"
)

// stateFile is the -state-file of a server: the engine's snapshot, restored
// at start, written every -state-interval in the background and once more
// on shutdown, after the engine has closed. Every write is atomic: a
// temporary file beside the state file is written, synced and renamed over
// it, and the directory is synced, so that the file is always a whole
// snapshot, the previous one until the rename.
type stateFile struct {
	path     string
	interval time.Duration
	eng      *engine.Engine
	logger   *slog.Logger
	metrics  *stateMetrics

	mu   sync.Mutex // serializes writes
	stop context.CancelFunc
	done chan struct{} // closed when the background writer returns
}

// openState prepares the state file at path for eng: it checks that its
// directory takes new files, removes the temporary files that an earlier
// process killed while writing left behind, and restores the file into eng
// if it exists. A file that does not restore stops the server: the error
// names the file and the problem.
func openState(path string, interval time.Duration, eng *engine.Engine, logger *slog.Logger) (*stateFile, error) {
	s := &stateFile{path: path, interval: interval, eng: eng, logger: logger, metrics: newStateMetrics()}
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	s.removeLeftovers()
	if err := s.restore(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkDir fails unless a file can be written beside the state file, so
// that a wrong path stops the server at start and not at its first write.
func (s *stateFile) checkDir() error {
	if fi, err := os.Stat(s.path); err == nil && fi.IsDir() {
		return fmt.Errorf("state file %s: is a directory", s.path)
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), s.tempPattern())
	if err != nil {
		return fmt.Errorf("state file %s: cannot write beside it: %w", s.path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (s *stateFile) tempPattern() string {
	return stateTempPrefix + filepath.Base(s.path) + stateTempSuffix + "*"
}

// removeLeftovers removes the temporary files of writes that never
// finished.
func (s *stateFile) removeLeftovers() {
	dir := filepath.Dir(s.path)
	prefix := stateTempPrefix + filepath.Base(s.path) + stateTempSuffix
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // checkDir wrote there; a listing that fails leaves them
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			name := filepath.Join(dir, e.Name())
			if err := os.Remove(name); err == nil {
				s.logger.Warn("removed the temporary file of an unfinished state write", "file", name)
			}
		}
	}
}

// restore reads the state file into the engine; a missing file is no
// error: the server starts empty.
func (s *stateFile) restore() error {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.logger.Info("no state file yet; starting empty", "file", s.path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	defer f.Close()
	start := time.Now()
	info, err := s.eng.Restore(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("state file %s: %w (to start empty on purpose, move the file away)", s.path, err)
	}
	s.logger.Info("restored state",
		"file", s.path,
		"members", info.Members,
		"uuids", info.UUIDs,
		"channels", info.Channels,
		"groups", info.Groups,
		"overdue", info.Overdue,
		"bytes", info.Bytes,
		"saved_at", info.Taken.UTC().Format(time.RFC3339),
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// start begins the background writes, unless the interval is 0.
func (s *stateFile) start() {
	s.done = make(chan struct{})
	if s.interval <= 0 {
		close(s.done)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.loop(ctx)
}

// loop writes the state file every interval, counted from the end of the
// previous write, until ctx is done.
func (s *stateFile) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTimer(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if info, d, err := s.write(); err != nil {
			s.logger.Error("writing the state file failed; the previous one stays", "file", s.path, "err", err)
		} else {
			s.logger.Debug("state saved", "file", s.path, "members", info.Members, "bytes", info.Bytes, "duration", d)
		}
		t.Reset(s.interval)
	}
}

// shutdown stops the background writes and waits for one under way. It may
// be called more than once.
func (s *stateFile) shutdown() {
	if s.stop != nil {
		s.stop()
	}
	if s.done != nil {
		<-s.done
	}
}

// save writes the state file once more, after the engine has closed, and
// logs it.
func (s *stateFile) save() error {
	info, d, err := s.write()
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	s.logger.Info("state saved", "file", s.path, "members", info.Members, "uuids", info.UUIDs,
		"channels", info.Channels, "bytes", info.Bytes, "duration", d.Round(time.Millisecond))
	return nil
}

// write writes the engine's snapshot to the state file atomically, and
// records the outcome in the metrics.
func (s *stateFile) write() (engine.SnapshotInfo, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	info, err := writeAtomically(s.path, s.tempPattern(), s.eng)
	d := time.Since(start)
	s.metrics.record(info, d, err)
	return info, d, err
}

// writeAtomically writes eng's snapshot into a new temporary file beside
// path (named by pattern, as os.CreateTemp takes it), syncs it, renames it
// to path and syncs the directory. Until the rename, path holds what it
// held; on an error, the temporary file is removed.
func writeAtomically(path, pattern string, eng *engine.Engine) (info engine.SnapshotInfo, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return info, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if info, err = eng.Snapshot(w); err != nil {
		return info, err
	}
	if err = w.Flush(); err != nil {
		return info, err
	}
	if err = f.Sync(); err != nil {
		return info, err
	}
	if err = f.Close(); err != nil {
		return info, err
	}
	if err = os.Rename(tmp, path); err != nil {
		return info, err
	}
	// The rename is durable once the directory is: without this, a crash
	// could leave the old name, or none.
	d, err := os.Open(dir)
	if err != nil {
		return info, err
	}
	defer d.Close()
	return info, d.Sync()
}

// stateMetrics are the figures of the state file's writes.
type stateMetrics struct {
	writes       *prometheus.CounterVec // result
	lastSuccess  prometheus.Gauge
	lastBytes    prometheus.Gauge
	lastDuration prometheus.Gauge
	lastHold     prometheus.Gauge
}

func newStateMetrics() *stateMetrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: "state", Name: name, Help: help})
	}
	m := &stateMetrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: "state",
			Name:      "writes_total",
			Help:      "Writes of the state file (-state-file) by result: ok or error.",
		}, []string{"result"}),
		lastSuccess:  gauge("last_write_timestamp_seconds", "Unix time of the last write of the state file that succeeded."),
		lastBytes:    gauge("last_write_bytes", "Size of the state file last written."),
		lastDuration: gauge("last_write_duration_seconds", "Time the last successful write of the state file took."),
		lastHold:     gauge("last_write_lock_hold_seconds", "Longest time the last write held the lock of one channel: the longest a join or leave could have waited for it."),
	}
	m.writes.WithLabelValues("ok") // both series exist from the start
	m.writes.WithLabelValues("error")
	return m
}

func (m *stateMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.writes, m.lastSuccess, m.lastBytes, m.lastDuration, m.lastHold}
}

func (m *stateMetrics) record(info engine.SnapshotInfo, d time.Duration, err error) {
	if err != nil {
		m.writes.WithLabelValues("error").Inc()
		return
	}
	m.writes.WithLabelValues("ok").Inc()
	m.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	m.lastBytes.Set(float64(info.Bytes))
	m.lastDuration.Set(d.Seconds())
	m.lastHold.Set(info.LongestHold.Seconds())
}
