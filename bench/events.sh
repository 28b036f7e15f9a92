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
# Then, unless IDLE=0, two live views run side by side for IDLE_SECONDS
# on a sockfarm of N_IDLE idle sockets (as bench/idle.sh does for one):
# events on (IDLE_ON_ARGS, default --events auto) and off (IDLE_OFF_ARGS,
# default --events sampled), at 250ms; their CPU shares and RSS are
# quoted.
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
	# Both views run at once on the same farm, so that what the shared
	# host does meanwhile (other programs' sockets come and go by the ten
	# thousand) lands on both alike; one after the other, as bench/idle.sh
	# runs a view, the two halves saw different tables.
	OUT_IDLE=$OUT/idle
	mkdir -p "$OUT_IDLE"
	go build -o "$OUT_IDLE/sockfarm" ./bench/sockfarm
	TMUX_SOCK=socktop-events-$$
	need tmux
	"$OUT_IDLE/sockfarm" -n "$N_IDLE" -tw 0.3 -stdin=false >"$OUT_IDLE/farm.out" 2>"$OUT_IDLE/farm.log" &
	FARM_PID=$!
	CHURN_PID="$FARM_PID" # stopped by cleanup
	trap 'tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true; cleanup' EXIT
	for ((i = 0; i < 600; i++)); do
		grep -qs '^ready' "$OUT_IDLE/farm.out" && break
		sleep 0.5
	done
	grep -qs '^ready' "$OUT_IDLE/farm.out" || { echo "events.sh: sockfarm -n $N_IDLE did not get ready" >&2; exit 1; }
	declare -A VPID
	for ev in on off; do
		args=$IDLE_ON_ARGS
		[ "$ev" = off ] && args=$IDLE_OFF_ARGS
		# shellcheck disable=SC2086
		tmux -L "$TMUX_SOCK" new-session -d -s "$ev" -x 200 -y 50 "exec $OUT/socktop $args --interval 250ms 2>$OUT_IDLE/view-$ev.err"
	done
	sleep "$WARM"
	for ev in on off; do
		VPID[$ev]=$(tmux -L "$TMUX_SOCK" display-message -p -t "$ev" '#{pane_pid}')
	done
	echo -e "t_s\tss_lines\trss_on_mib\tticks_on\trss_off_mib\tticks_off" >"$OUT_IDLE/samples.tsv"
	t0=$(date +%s.%N)
	while :; do
		now=$(date +%s.%N)
		row="$(awk -v a="$t0" -v b="$now" 'BEGIN {printf "%.0f", b - a}')\t$(ss -tanH | wc -l)"
		for ev in on off; do
			row="$row\t$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/${VPID[$ev]}/status")\t$(cpu_ticks "${VPID[$ev]}")"
		done
		echo -e "$row" >>"$OUT_IDLE/samples.tsv"
		awk -v a="$t0" -v b="$now" -v p="$IDLE_SECONDS" 'BEGIN { exit !(b - a >= p) }' && break
		sleep 10
	done
	column -t "$OUT_IDLE/samples.tsv" | tee -a "$OUT/results.txt"
	awk -F'\t' -v hz="$CLK_TCK" -v on="$IDLE_ON_ARGS" -v off="$IDLE_OFF_ARGS" 'NR > 1 { t[NR] = $1; ron[NR] = $3; con[NR] = $4; roff[NR] = $5; coff[NR] = $6; n = NR }
		END {
			s = t[n] - t[2]
			printf "idle view, %s: CPU %.2f %% of a core, RSS %.1f -> %.1f MiB\n", on, 100 * (con[n] - con[2]) / hz / s, ron[2], ron[n]
			printf "idle view, %s: CPU %.2f %% of a core, RSS %.1f -> %.1f MiB\n", off, 100 * (coff[n] - coff[2]) / hz / s, roff[2], roff[n]
			printf "on/off CPU ratio %.2f\n", (con[n] - con[2]) / (coff[n] - coff[2])
		}' "$OUT_IDLE/samples.tsv" | tee -a "$OUT/results.txt"
fi
