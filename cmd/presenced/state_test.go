package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
)

// readState restores the state file at path into a new engine, which it
// returns with what it restored.
func readState(t *testing.T, path string) (*engine.Engine, engine.SnapshotInfo) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	e, err := engine.New(engine.Config{MaxTimeout: 2 * time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	info, err := e.Restore(bufio.NewReader(f))
	require.NoError(t, err, "state file %s", path)
	return e, info
}

// stateTemps lists the temporary files of unfinished writes beside path.
func stateTemps(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	require.NoError(t, err)
	return m
}

// TestRunStateFile stops a server and starts another on its state file: the
// members, their state and the groups are back, and the members' next
// heartbeats are refreshes, not joins.
func TestRunStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	s := startServer(t, nil, "-state-file", path, "-state-interval", "0")
	assert.Contains(t, s.log.String(), "msg=\"no state file yet; starting empty\"")
	for _, p := range []string{
		"/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=600&state=" + url.QueryEscape(`{"lobby":{"mood":"happy"}}`),
		"/v2/presence/sub-key/demo/channel/lobby,hall/heartbeat?uuid=bob&heartbeat=600",
		"/v1/channel-registration/sub-key/demo/channel-group/floor?add=lobby,hall",
	} {
		status, body := get(t, s.url(p))
		require.Equal(t, 200, status, body)
	}
	require.NoError(t, s.stop())
	assert.Regexp(t, `msg="state saved" file=\S+ members=3 uuids=2 channels=2`, s.log.String())
	_, info := readState(t, path)
	assert.Equal(t, 3, info.Members)
	assert.Empty(t, stateTemps(t, path))

	s2 := startServer(t, nil, "-state-file", path, "-state-interval", "0")
	assert.Regexp(t, `msg="restored state" file=\S+ members=3 uuids=2 channels=2 groups=1 overdue=0`, s2.log.String())
	_, body := get(t, s2.url("/v2/presence/sub-key/demo/channel/lobby?state=1"))
	assert.JSONEq(t, `{"status":200,"message":"OK","service":"Presence","occupancy":2,
		"uuids":[{"uuid":"alice","state":{"mood":"happy"}},{"uuid":"bob"}]}`, sortUUIDs(t, body))
	_, body = get(t, s2.url("/v1/channel-registration/sub-key/demo/channel-group/floor"))
	assert.Contains(t, body, `"channels":["hall","lobby"]`)

	for _, p := range []string{
		"/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=600",
		"/v2/presence/sub-key/demo/channel/lobby,hall/heartbeat?uuid=bob&heartbeat=600",
	} {
		status, body := get(t, s2.url(p))
		require.Equal(t, 200, status, body)
	}
	_, metrics := get(t, s2.url("/metrics"))
	samples := metricLines(metrics)
	assert.Equal(t, "0", samples["presenced_joins_total"], "restored members refresh")
	assert.Equal(t, "2", samples["presenced_heartbeats_total"])
	assert.Equal(t, "3", samples["presenced_members"])
}

// TestRunStateFileCursorResumes: a subscriber's cursor from before a restart
// finds, on the restored server, the events that came after the restart and
// before its first long-poll there: the feed keeps them, as a node of a
// cluster keeps those a client moving from another node asks for.
func TestRunStateFileCursorResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	args := []string{"-state-file", path, "-state-interval", "0", "-subscribe-hold", "2s"}
	s := startServer(t, nil, args...)
	tt := subscribeHandshake(t, s.url(""), "lobby-pnpres")
	status, body := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=600"))
	require.Equal(t, 200, status, body)
	require.NoError(t, s.stop())

	s2 := startServer(t, nil, args...)
	status, body = get(t, s2.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=dan&heartbeat=600"))
	require.Equal(t, 200, status, body)
	status, body = get(t, s2.url("/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt="+tt))
	require.Equal(t, 200, status, body)
	var ans struct {
		M []struct{ D struct{ Action, UUID string } }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ans), body)
	var got []string
	for _, m := range ans.M {
		got = append(got, m.D.Action+" "+m.D.UUID)
	}
	// dan's join came after the restart, before any subscribe call on this
	// server; alice's went to the previous process's subscribers.
	assert.Contains(t, got, "join dan", body)
	assert.NotContains(t, got, "join alice", body)
	require.NoError(t, s2.stop())
}

// sortUUIDs returns a here now answer with its uuids in name order.
func sortUUIDs(t *testing.T, body string) string {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	if list, ok := v["uuids"].([]any); ok {
		name := func(x any) string { return fmt.Sprint(x.(map[string]any)["uuid"]) }
		slices.SortFunc(list, func(a, b any) int { return strings.Compare(name(a), name(b)) })
	}
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}

// TestRunStateFileRefused: a state file that does not restore stops the
// server before it serves, with an error naming the file and the problem,
// and the file is left as it was.
func TestRunStateFileRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	s := startServer(t, nil, "-state-file", good, "-state-interval", "0")
	status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice"))
	require.Equal(t, 200, status)
	require.NoError(t, s.stop())
	saved, err := os.ReadFile(good)
	require.NoError(t, err)

	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"not a snapshot", []byte("presence, but not as we know it"), "presence: snapshot corrupt: not a presence snapshot"},
		{"truncated", saved[:len(saved)-5], "presence: snapshot truncated: the input ends at byte"},
		{"damaged", bytes.Replace(saved, []byte("alice"), []byte("alicf"), 1), "fails its checksum"},
		{"empty", nil, "presence: snapshot truncated: the input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			require.NoError(t, os.WriteFile(path, tt.content, 0o600))
			err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-state-file", path}, func(string) string { return "" }, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "state file "+path+": ")
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "to start empty on purpose, move the file away")
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, string(tt.content), string(after), "the file is left for the operator")
		})
	}

	t.Run("a directory", func(t *testing.T) {
		err := run(t.Context(), []string{"-state-file", t.TempDir()}, func(string) string { return "" }, io.Discard, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is a directory")
	})
	t.Run("a directory that does not exist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "state")
		err := run(t.Context(), []string{"-state-file", path}, func(string) string { return "" }, io.Discard, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "state file "+path+": cannot write beside it")
	})
}

// TestRunStateFileBackground: the file is written every -state-interval
// while the server runs, and the temporary file an unfinished write left is
// removed at start.
func TestRunStateFileBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	leftover := filepath.Join(filepath.Dir(path), ".state.tmp-123456")
	require.NoError(t, os.WriteFile(leftover, []byte("half a snapshot"), 0o600))

	s := startServer(t, map[string]string{"PRESENCED_STATE_FILE": path, "PRESENCED_STATE_INTERVAL": "20ms"})
	assert.Contains(t, s.log.String(), "removed the temporary file of an unfinished state write")
	assert.NoFileExists(t, leftover)
	status, _ := get(t, s.url("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=600"))
	require.Equal(t, 200, status)

	// Within a few intervals, a write holds alice: the server is still
	// running, nothing else writes the file.
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := os.Stat(path); err == nil {
			if _, info := readState(t, path); info.Members == 1 {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "no background write holding alice within %v", waitTimeout)
		time.Sleep(10 * time.Millisecond)
	}
	// The write is counted once it has returned, just after the rename.
	var samples map[string]string
	for {
		_, body := get(t, s.url("/metrics"))
		samples = metricLines(body)
		if samples[`presenced_state_writes_total{result="ok"}`] != "0" {
			break
		}
		require.True(t, time.Now().Before(deadline), "no write counted within %v", waitTimeout)
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, "0", samples[`presenced_state_writes_total{result="error"}`])
	assert.NotEqual(t, "0", samples["presenced_state_last_write_bytes"])
}

// TestStateFileSurvivesKill9 kills a real presenced child process with
// SIGKILL while it writes its state file, again and again: each time the
// file it leaves is the last one it finished, whole, which the next process
// restores and whose leftover it removes.
func TestStateFileSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "state")
	// 300 members with 20 KB of state each: a 6 MB file, written back to
	// back (every millisecond), so that a kill lands inside a write.
	const members = 300
	state := url.QueryEscape(`{"lobby":{"pad":"` + strings.Repeat("x", 20_000) + `"}}`)

	killedMidWrite, leftover := 0, false
	for round := range 4 {
		ctx, cancel := context.WithTimeout(t.Context(), 3*waitTimeout)
		cmd := exec.CommandContext(ctx, exe, "-addr", "127.0.0.1:0", "-state-file", path, "-state-interval", "1ms", "-max-timeout", "1h")
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		log := newLogSink()
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = io.Copy(log, stderr)
		}()
		addr := log.waitMatch(t, listeningRE)
		base := "http://" + addr

		if round == 0 {
			for i := range members {
				status, body := get(t, fmt.Sprintf("%s/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=u%d&heartbeat=3600&state=%s", base, i, state))
				require.Equal(t, 200, status, body)
			}
			// A first write holding everyone, finished.
			deadline := time.Now().Add(waitTimeout)
			for {
				if _, err := os.Stat(path); err == nil {
					if _, info := readState(t, path); info.Members == members {
						break
					}
				}
				require.True(t, time.Now().Before(deadline), "no write of %d members; log:\n%s", members, log.String())
				time.Sleep(5 * time.Millisecond)
			}
		} else {
			log.waitMatch(t, regexp.MustCompile(`msg="restored state" file=\S+ members=(\d+)`))
			if leftover {
				assert.Contains(t, log.String(), "removed the temporary file of an unfinished state write")
			}
			assert.Regexp(t, fmt.Sprintf(`msg="restored state" file=\S+ members=%d `, members), log.String(), "round %d", round)
			_, body := get(t, base+"/v2/presence/sub-key/demo/channel/lobby?disable_uuids=1")
			assert.Contains(t, body, fmt.Sprintf(`"occupancy":%d`, members), "round %d", round)
		}

		// Kill it as soon as a write is under way.
		deadline := time.Now().Add(waitTimeout)
		for len(stateTemps(t, path)) == 0 {
			require.True(t, time.Now().Before(deadline), "no write under way; log:\n%s", log.String())
			time.Sleep(100 * time.Microsecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		werr := cmd.Wait()
		<-copied
		cancel()
		var exit *exec.ExitError
		require.ErrorAs(t, werr, &exit)
		require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

		leftover = len(stateTemps(t, path)) > 0
		if leftover {
			killedMidWrite++
		}
		e, info := readState(t, path)
		require.Equal(t, members, info.Members, "round %d: the last finished write survives", round)
		st, err := e.GetState(engine.GetStateRequest{SubKey: "demo", UUID: "u7", Channels: []string{"lobby"}})
		require.NoError(t, err)
		assert.Len(t, st["lobby"], len(`{"pad":""}`)+20_000)
	}
	assert.Positive(t, killedMidWrite, "at least one kill left a write unfinished")
}
