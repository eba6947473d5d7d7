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
#      starts its own in-process servers;
#   4. stops presenced with SIGTERM and checks that it exits cleanly.
# Exits non-zero if any step fails. A missing node or npm is a failure, not a
# skip. Every wait is bounded.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fail() {
	echo "sdktest: FAIL: $*" >&2
	exit 1
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
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null
	fi
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
# interval events. Keep in step with engineConfig in sdktest/go/sdk_test.go.
server_flags=(
	-min-timeout 2s -default-timeout 6s -tick 100ms
	-announce-max 2 -deltas -interval 1s
)
"$tmp/presenced" -addr 127.0.0.1:0 -config "$tmp/presenced.json" -log-format text "${server_flags[@]}" 2>"$tmp/presenced.log" &
server_pid=$!

addr=""
for _ in $(seq 1 100); do # 100 x 0.1 s
	addr="$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$tmp/presenced.log" | head -n 1)"
	[[ -n "$addr" ]] && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if [[ -z "$addr" ]]; then
	cat "$tmp/presenced.log" >&2
	fail "presenced did not log its listening address within 10 s"
fi
echo "sdktest: presenced listening on $addr"

failed=()

echo "sdktest: JavaScript SDK suite"
(
	cd sdktest/js || exit 1
	if [[ ! -d node_modules ]]; then
		timeout 300 npm ci --no-audit --no-fund || exit 1
	fi
	PRESENCED_ADDR="$addr" PRESENCED_BIN="$tmp/presenced" timeout 300 node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs
) || failed+=("JavaScript SDK suite")

echo "sdktest: Go SDK suite"
(
	cd sdktest/go || exit 1
	timeout 600 go test -count=1 ./...
) || failed+=("Go SDK suite")

kill -0 "$server_pid" 2>/dev/null || failed+=("presenced died during the suites")
kill -TERM "$server_pid" 2>/dev/null
status=""
for _ in $(seq 1 150); do # 150 x 0.1 s
	if ! kill -0 "$server_pid" 2>/dev/null; then
		wait "$server_pid"
		status=$?
		break
	fi
	sleep 0.1
done
if [[ -z "$status" ]]; then
	failed+=("presenced did not exit within 15 s of SIGTERM")
elif [[ "$status" != 0 ]]; then
	failed+=("presenced exited with status $status after SIGTERM")
else
	server_pid=""
fi
grep -q 'msg=stopped' "$tmp/presenced.log" || failed+=("presenced did not log its shutdown")

if ((${#failed[@]} > 0)); then
	echo "--- presenced log" >&2
	tail -n 50 "$tmp/presenced.log" >&2
	for f in "${failed[@]}"; do echo "sdktest: FAIL: $f" >&2; done
	exit 1
fi
echo "sdktest: PASS"
