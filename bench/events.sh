#!/usr/bin/env bash
# bench/events.sh: the cost of the kernel event layer (issue 10, "Cost").
# bench/churn makes loopback connections at RATE a second, then as fast
# as it can. They are aborted (churn -rst: six state changes each, so
# RATE 1700 is about 10k transitions a second) rather than closed
# politely (ten changes each), because a polite churn of 1k a second
# holds 60k TIME_WAIT sockets, half of the host's tcp_max_tw_buckets,
# which every program on a shared host needs (CHURN_FLAGS= for the polite
# close). At each rate, for SECONDS_EACH seconds:
#   - churn alone: its own CPU, the baseline of the kernel-side cost (the
#     BPF program runs on the CPU of whoever changes a socket's state);
#   - bench/eventcost: an events.Stream alone, drained every 100ms: its
#     CPU as a share of a core, the events and destroy records it read,
#     and what it lost (Stream.Stats), with churn's CPU beside it; then
#     the same with --events sampled, the destroy groups alone;
#   - `socktop trace --json` into a counter: the whole headless path
#     (stream, snapshots every second with owners, tracker, filter, NDJSON)
#     as a share of a core, its lines, and the lost counts it printed.
# Then, unless IDLE=0, bench/idle.sh runs the live view on N_IDLE idle
# sockets twice, IDLE_SECONDS each, events on (IDLE_ON_ARGS, default
# --events auto) and off (IDLE_OFF_ARGS, default --events sampled), and
# its CPU shares are quoted.
#
# Environment: RATE (1700), CHURN_FLAGS (-rst), SECONDS_EACH (20), WARM (3), EVENTS (auto: the
# reader eventcost and trace use), WORKERS (churn -workers, 4), IDLE (1),
# N_IDLE (10000), IDLE_SECONDS (120), IDLE_ON_ARGS, IDLE_OFF_ARGS, OUT
# (bench/out/events).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
: "${RATE:=1700}" "${CHURN_FLAGS=-rst}" "${SECONDS_EACH:=20}" "${WARM:=3}" "${EVENTS:=auto}" "${WORKERS:=4}"
: "${IDLE:=1}" "${N_IDLE:=10000}" "${IDLE_SECONDS:=120}"
: "${IDLE_ON_ARGS:=--events auto}" "${IDLE_OFF_ARGS:=--events sampled}"
OUT=${OUT:-bench/out/events}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
need ss
go build -o "$OUT/churn" ./bench/churn
go build -o "$OUT/eventcost" ./bench/eventcost
go build -o "$OUT/socktop" .
CLK_TCK=$(getconf CLK_TCK)

CHURN_PID=
TRACE_PID=
cleanup() {
	for p in $TRACE_PID $CHURN_PID; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { # utime+stime of PID; the fields after the ")" that ends comm
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

share() { # ticks seconds -> share of one core, in %
	awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", 100 * t / hz / s}'
}

churn_start() { # rate
	# shellcheck disable=SC2086
	"$OUT/churn" -rate "$1" -workers "$WORKERS" $CHURN_FLAGS >"$OUT/churn-$1.out" 2>&1 &
	CHURN_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^ready' "$OUT/churn-$1.out" && break
		sleep 0.1
	done
	grep -q '^ready' "$OUT/churn-$1.out" || { echo "events.sh: churn did not start: $(cat "$OUT/churn-$1.out")" >&2; exit 1; }
	sleep "$WARM"
}

churn_stop() {
	kill -TERM "$CHURN_PID" 2>/dev/null || true
	wait "$CHURN_PID" 2>/dev/null || true
	CHURN_PID=
}

# one_rate RATE LABEL: the three measurements at one churn rate.
one_rate() {
	local rate=$1 label=$2 c0 c1 t0 t1 s0 s1 line
	churn_start "$rate"

	c0=$(cpu_ticks "$CHURN_PID"); s0=$(date +%s.%N)
	sleep "$SECONDS_EACH"
	c1=$(cpu_ticks "$CHURN_PID"); s1=$(date +%s.%N)
	local el; el=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')
	echo "$label churn_alone churn_cpu=$(share $((c1 - c0)) "$el")%" | tee -a "$OUT/results.txt"

	c0=$(cpu_ticks "$CHURN_PID"); s0=$(date +%s.%N)
	line=$("$OUT/eventcost" -events "$EVENTS" -duration "${SECONDS_EACH}s" 2>>"$OUT/eventcost.err")
	c1=$(cpu_ticks "$CHURN_PID"); s1=$(date +%s.%N)
	el=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')
	echo "$label eventcost $line churn_cpu=$(share $((c1 - c0)) "$el")%" | tee -a "$OUT/results.txt"
	line=$("$OUT/eventcost" -events sampled -duration "${SECONDS_EACH}s" 2>>"$OUT/eventcost.err")
	echo "$label eventcost-destroy-only $line" | tee -a "$OUT/results.txt"

	# The trace's lines go to a counter, so that writing them costs what
	# a pipe to a consumer costs, and the lost counts are summed.
	"$OUT/socktop" trace --json --events "$EVENTS" \
		2>"$OUT/trace-$label.err" \
		> >(awk '{n++} /"event":"lost"/ {sub(/.*"count":/, ""); sub(/}.*/, ""); lost += $0}
			END {printf "lines=%d lost=%d\n", n, lost}' >"$OUT/trace-$label.count") &
	TRACE_PID=$!
	sleep "$WARM"
	t0=$(cpu_ticks "$TRACE_PID"); c0=$(cpu_ticks "$CHURN_PID"); s0=$(date +%s.%N)
	sleep "$SECONDS_EACH"
	t1=$(cpu_ticks "$TRACE_PID"); c1=$(cpu_ticks "$CHURN_PID"); s1=$(date +%s.%N)
	kill -INT "$TRACE_PID"
	wait "$TRACE_PID" || true
	TRACE_PID=
	sleep 0.5 # the counter's END
	el=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')
	echo "$label trace trace_cpu=$(share $((t1 - t0)) "$el")% $(cat "$OUT/trace-$label.count") churn_cpu=$(share $((c1 - c0)) "$el")% tw_sockets=$(ss -tanH state time-wait | wc -l)" | tee -a "$OUT/results.txt"
	churn_stop
	tail -1 "$OUT/churn-$rate.out" | sed "s/^/$label churn: /" | tee -a "$OUT/results.txt"
}

: >"$OUT/results.txt"
{
	echo "date: $(date -u +%FT%TZ), git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "kernel: $(uname -r), cpus: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "RATE=$RATE CHURN_FLAGS=$CHURN_FLAGS SECONDS_EACH=$SECONDS_EACH EVENTS=$EVENTS WORKERS=$WORKERS"
} | tee "$OUT/env.txt"
if [ "${SKIP_CHURN:-0}" != 1 ]; then
	one_rate "$RATE" "rate$RATE"
	one_rate 0 max
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/env.txt"

if [ "$IDLE" = 1 ]; then
	# idle.sh runs $SOCKTOP --interval ...: a wrapper adds the events flag.
	for ev in on off; do
		args=$IDLE_ON_ARGS
		[ "$ev" = off ] && args=$IDLE_OFF_ARGS
		wrapper=$OUT/socktop-$ev
		printf '#!/bin/sh\nexec %q %s "$@"\n' "$OUT/socktop" "$args" >"$wrapper"
		chmod +x "$wrapper"
		OUT="$OUT/idle-$ev" N="$N_IDLE" SECONDS_TOTAL="$IDLE_SECONDS" SAMPLE=10 SOCKTOP="$wrapper" \
			bench/idle.sh | tail -2 | sed "s/^/idle events $ev ($args): /" | tee -a "$OUT/results.txt"
	done
fi
