#!/usr/bin/env bash
# Runs the real PubNub SDKs against presenced:
#   1. builds presenced and starts it on a free loopback port with a config
#      file holding an unsigned and a signed keyset;
#   2. runs the JavaScript SDK suite (sdktest/js, npm pubnub 12.0.3, which
#      declares node 22 or later; tested on node 20.20.2 as well) against
#      it, installing its node_modules with `npm ci` when they are missing
#      (REST calls, and the subscribe long-poll's presence events); its
#      restart test starts and restarts a presenced of its own, with
#      -state-file, from the same binary (PRESENCED_BIN);
#   3. runs the Go SDK suite (sdktest/go, github.com/pubnub/go v4.10.0), which
#      starts its own in-process servers, one engine and two cluster nodes;
#   4. stops presenced with SIGTERM and checks that it exits cleanly;
#   5. builds a NATS server (github.com/nats-io/nats-server/v2, from the
#      library's go.mod), starts it with JetStream and two presenced nodes on
#      it (-nats, the same config file and presence flags), and runs the
#      JavaScript suite again: its clients talk to node 1 and its subscribe
#      tests' watchers to node 2 (PRESENCED_WATCH_ADDR);
#   6. stops both nodes, then the NATS server, with SIGTERM and checks that
#      each exits cleanly.
# Exits non-zero if any step fails. A missing node or npm is a failure, not a
# skip. Every wait is bounded.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

failed=()
logs=() # of every process started, shown when something failed

# finish reports the failures, with the end of every log, and exits.
finish() {
	if ((${#failed[@]} > 0)); then
		for log in "${logs[@]}"; do
			echo "--- $(basename "$log")" >&2
			tail -n 50 "$log" >&2
		done
		for f in "${failed[@]}"; do echo "sdktest: FAIL: $f" >&2; done
		exit 1
	fi
	echo "sdktest: PASS"
	exit 0
}

# fail records a failure that leaves nothing to go on with, and finishes.
fail() {
	failed+=("$*")
	finish
}

for tool in go node npm timeout; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (the SDK suites need it)"
done
echo "sdktest: go $(go env GOVERSION), node $(node --version), npm $(npm --version)"
# pubnub 12.0.3 declares node 22 or later; the suite is known to pass on
# node 20.20.2 (npm ci then warns EBADENGINE). Say so rather than refuse.
node_major="$(node --version | sed 's/^v\([0-9]*\).*/\1/')"
if [[ "$node_major" =~ ^[0-9]+$ ]] && ((node_major < 22)); then
	echo "sdktest: note: node $(node --version) is older than the 22 that pubnub 12.0.3 declares; the suite is tested on node 20.20.2, where it passes"
fi

tmp="$(mktemp -d)"
pids=() # every process started, killed on exit if still running
cleanup() {
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

timeout 300 go build -o "$tmp/presenced" ./cmd/presenced || fail "go build ./cmd/presenced"

# Keep in step with the defaults of sdktest/js/lib/harness.mjs.
cat >"$tmp/presenced.json" <<'EOF'
{
  "keys": [
    {"sub_key": "sub-c-sdktest", "pub_key": "pub-c-sdktest"},
    {"sub_key": "sub-c-sdktest-signed", "pub_key": "pub-c-sdktest-signed", "secret_key": "sec-c-sdktest-signed"}
  ]
}
EOF

# Short presence, so that the subscribe suite's timeout case takes seconds,
# and announce max 2 with deltas each second, so that three clients bring
# interval events. Keep in step with engineConfig and clusterConfig in
# sdktest/go/sdk_test.go.
server_flags=(
	-min-timeout 2s -default-timeout 6s -tick 100ms
	-announce-max 2 -deltas -interval 1s
)

# start_presenced NAME [FLAGS...] starts presenced with the config file, the
# presence flags and FLAGS, logging to $tmp/NAME.log, and waits up to 30 s
# for its listening address. It sets pid and addr.
start_presenced() {
	local name="$1"
	shift
	local log="$tmp/$name.log"
	logs+=("$log")
	"$tmp/presenced" -addr 127.0.0.1:0 -config "$tmp/presenced.json" -log-format text "${server_flags[@]}" "$@" 2>"$log" &
	pid=$!
	pids+=("$pid")
	addr=""
	for _ in $(seq 1 300); do # 300 x 0.1 s
		addr="$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$log" | head -n 1)"
		[[ -n "$addr" ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z "$addr" ]]; then
		kill -0 "$pid" 2>/dev/null || fail "$name exited before it listened"
		fail "$name did not log its listening address within 30 s"
	fi
	echo "sdktest: $name listening on $addr"
}

# stop NAME PID SECONDS sends SIGTERM to PID and waits up to SECONDS for it
# to exit with status 0, recording a failure otherwise.
stop() {
	local name="$1" pid="$2" seconds="$3" status=""
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		status=$?
		forget "$pid"
		failed+=("$name died before it was stopped (status $status)")
		return
	fi
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 $((seconds * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			status=$?
			break
		fi
		sleep 0.1
	done
	if [[ -z "$status" ]]; then
		failed+=("$name did not exit within $seconds s of SIGTERM")
		return
	fi
	forget "$pid"
	if [[ "$status" != 0 ]]; then
		failed+=("$name exited with status $status after SIGTERM")
	fi
}

# forget PID drops an exited process from those cleanup kills.
forget() {
	local keep=() p
	for p in "${pids[@]}"; do
		[[ "$p" != "$1" ]] && keep+=("$p")
	done
	pids=("${keep[@]}")
}

# stop_presenced NAME PID stops a presenced started by start_presenced and
# checks that it logged its shutdown.
stop_presenced() {
	stop "$1" "$2" 15
	grep -q 'msg=stopped' "$tmp/$1.log" || failed+=("$1 did not log its shutdown")
}

# js_suite [VAR=value...] runs the JavaScript suite with the environment
# given, installing its node_modules first when they are missing.
js_suite() {
	(
		cd sdktest/js || exit 1
		if [[ ! -d node_modules ]]; then
			timeout 300 npm ci --no-audit --no-fund || exit 1
		fi
		env "$@" timeout 300 node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs
	)
}

start_presenced presenced
server_pid="$pid" server_addr="$addr"

echo "sdktest: JavaScript SDK suite"
js_suite PRESENCED_ADDR="$server_addr" PRESENCED_BIN="$tmp/presenced" || failed+=("JavaScript SDK suite")

echo "sdktest: Go SDK suite"
(
	cd sdktest/go || exit 1
	timeout 600 go test -count=1 ./...
) || failed+=("Go SDK suite")

stop_presenced presenced "$server_pid"

# Two nodes of one presence on one NATS server with JetStream.
echo "sdktest: two presenced nodes on NATS JetStream"
cluster_start=$SECONDS
timeout 300 go build -o "$tmp/nats-server" github.com/nats-io/nats-server/v2 || fail "go build github.com/nats-io/nats-server/v2"
mkdir -p "$tmp/nats-ports"
nats_log="$tmp/nats-server.log"
logs+=("$nats_log")
# -p -1 picks a free port; the server writes the one it bound to its ports
# file, nats-server_<pid>.ports, once it accepts clients.
"$tmp/nats-server" -js -a 127.0.0.1 -p -1 -sd "$tmp/nats-store" --ports_file_dir "$tmp/nats-ports" 2>"$nats_log" &
nats_pid=$!
pids+=("$nats_pid")
nats_url=""
for _ in $(seq 1 300); do # 300 x 0.1 s
	if [[ -f "$tmp/nats-ports/nats-server_$nats_pid.ports" ]]; then
		nats_url="$(sed -n 's/.*"nats":\["\(nats:\/\/[^"]*\)".*/\1/p' "$tmp/nats-ports/nats-server_$nats_pid.ports")"
		[[ -n "$nats_url" ]] && break
	fi
	kill -0 "$nats_pid" 2>/dev/null || break
	sleep 0.1
done
if [[ -z "$nats_url" ]]; then
	kill -0 "$nats_pid" 2>/dev/null || fail "nats-server exited before it listened"
	fail "nats-server did not write its client port within 30 s"
fi
echo "sdktest: nats-server listening on $nats_url"

start_presenced node1 -nats "$nats_url"
node1_pid="$pid" node1_addr="$addr"
start_presenced node2 -nats "$nats_url"
node2_pid="$pid" node2_addr="$addr"

echo "sdktest: JavaScript SDK suite, clients on node 1, watchers on node 2"
js_suite PRESENCED_ADDR="$node1_addr" PRESENCED_WATCH_ADDR="$node2_addr" ||
	failed+=("JavaScript SDK suite against two nodes")

stop_presenced node1 "$node1_pid"
stop_presenced node2 "$node2_pid"
stop nats-server "$nats_pid" 15
grep -q 'Server Exiting' "$nats_log" || failed+=("nats-server did not log its shutdown")
echo "sdktest: two nodes took $((SECONDS - cluster_start)) s"

finish
