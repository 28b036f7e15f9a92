#!/usr/bin/env bash
# scripts/busy-suite.sh [RUNS]: run the whole test suite RUNS times (default
# 5) in a row on a host made busy the way a real one is:
#   - ../shared/tools/busyhost.py: a dual-stack listener on [::] (ss prints
#     *:P), 2000 held loopback connections and a connect/close churn;
#   - bench/sockfarm: 10000 more loopback sockets, 30% of them TIME_WAIT,
#     kept in TIME_WAIT by a steady churn;
#   - two busy loops, so both cores are loaded.
# Stops at the first red run. Every load generator is ended on exit.
# Logs go to /tmp/busy-suite/run-N.log.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
runs=${1:-5}
logs=/tmp/busy-suite
mkdir -p "$logs"
# shared/ sits beside the clone; BUSYHOST names another copy.
busyhost=${BUSYHOST:-../shared/tools/busyhost.py}
[ -f "$busyhost" ] || { echo "busy-suite: $busyhost not found (set BUSYHOST)" >&2; exit 1; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

go build -o "$logs/sockfarm" ./bench/sockfarm
python3 "$busyhost" 5400 >"$logs/busyhost.out" 2>&1 &
pids+=($!)
"$logs/sockfarm" -n 10000 -tw 0.3 -stdin=false >"$logs/sockfarm.out" 2>&1 &
pids+=($!)
for _ in 1 2; do
	sh -c 'while :; do :; done' &
	pids+=($!)
done
for _ in $(seq 1 120); do
	grep -q ready "$logs/busyhost.out" 2>/dev/null && grep -q ready "$logs/sockfarm.out" 2>/dev/null && break
	sleep 1
done
echo "load: $(cat "$logs/busyhost.out") / $(cat "$logs/sockfarm.out"); $(ss -tanuH | wc -l) sockets; $(uptime)"

for i in $(seq 1 "$runs"); do
	start=$(date +%s)
	if ./scripts/test.sh >"$logs/run-$i.log" 2>&1; then
		echo "run $i: green in $(($(date +%s) - start)) s ($(ss -tanuH | wc -l) sockets, load $(cut -d' ' -f1 /proc/loadavg))"
	else
		echo "run $i: RED in $(($(date +%s) - start)) s, see $logs/run-$i.log"
		grep -E '^(--- FAIL|FAIL|panic)' "$logs/run-$i.log" | head -20
		exit 1
	fi
done
echo "$runs of $runs runs green"
