#!/usr/bin/env bash
# bench/owners.sh [sizes...]: the owner pass by /proc/*/fd scan against
# the task_file BPF iterator, on a sockfarm table of each size (default
# 10000 100000). Needs root (the iterator, a network namespace).
#
# The farm runs in a network namespace of this run's own, so it takes no
# address or port of another farm on the host; the owner pass reads every
# process's descriptors whatever their namespace, and the benchmarks run
# in the farm's namespace, so the sockets they resolve are the farm's.
# For each size: the collect benchmarks BenchmarkOwnersCold (scan),
# BenchmarkOwnersColdBPF (iterator) and BenchmarkTaskIterLoad, then, with
# timeit, `socktop --once` built from this tree against one built from
# BASE (default a1efbd1, before the iterator), which scans.
#
# Environment: BENCH_COUNT (default 3), ROUNDS (timeit, default 9), TW
# (TIME_WAIT fraction, default 0.3), BASE.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/owners}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
TW=${TW:-0.3}
BASE=${BASE:-a1efbd1}
NS=socktop-owners-$$-$RANDOM

go build -o "$OUT/sockfarm" ./bench/sockfarm
go build -o "$OUT/timeit" ./bench/timeit
go build -o "$OUT/socktop" .
go test -c -o "$OUT/collect.test" ./collect
src=$(mktemp -d)
git archive "$BASE" | tar -x -C "$src"
(cd "$src" && go build -o "$OUT/socktop-scan" .)
rm -rf "$src"

FARM_PID=
cleanup() {
	if [ -n "$FARM_PID" ]; then
		kill "$FARM_PID" 2>/dev/null || true
		wait "$FARM_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

for n in "${SIZES[@]}"; do
	dir="$OUT/$n"
	mkdir -p "$dir"
	echo "== $n sockets: building the table in $NS" >&2
	coproc FARM { exec ip netns exec "$NS" "$OUT/sockfarm" -n "$n" -tw "$TW" 2>"$dir/farm.log"; }
	FARM_PID=$FARM_PID
	line=
	if ! read -r -t 600 -u "${FARM[0]}" line || [[ $line != ready* ]]; then
		echo "owners.sh: sockfarm -n $n did not get ready: $(cat "$dir/farm.log")" >&2
		exit 1
	fi
	fds=$( (find /proc/[0-9]*/fd -lname 'socket:*' 2>/dev/null || true) | wc -l)
	echo "$line, socket descriptors on the host: $fds, load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$dir/table.txt" >&2

	echo "== $n sockets: go benchmarks" >&2
	(cd collect && in_ns "$OUT/collect.test" -test.run '^$' \
		-test.bench '^(BenchmarkOwnersCold|BenchmarkOwnersColdBPF|BenchmarkTaskIterLoad)$' \
		-test.benchtime 5x -test.count "${BENCH_COUNT:-3}") | tee "$dir/gobench.txt" >&2

	echo "== $n sockets: timeit" >&2
	in_ns "$OUT/timeit" -rounds "${ROUNDS:-9}" -baseline once-scan -ratio once-bpf/once-scan \
		-json "$dir/timeit.json" \
		once-scan="$OUT/socktop-scan --once" once-bpf="$OUT/socktop --once" \
		| tee "$dir/timeit.md" >&2
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$dir/table.txt" >&2

	exec {FARM[1]}>&-
	wait "$FARM_PID" 2>/dev/null || true
	FARM_PID=
done
