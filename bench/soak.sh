#!/usr/bin/env bash
# bench/soak.sh: the live view after a burst. A view watches a steady
# table of BASE sockets, then a burst to BURST, then BASE again; a control
# view that never saw the burst is started once it is over. Both views run
# in detached tmux sessions (200x50) as bench/run.sh's does; CPU is
# utime+stime from /proc/PID/stat over each phase, RSS is VmRSS sampled
# every SAMPLE seconds (median and max of the phase).
#
# Phases (PHASE seconds each, after WARM seconds of warm-up):
#   fresh   the view on BASE sockets, before the burst
#   during  the same view while a second farm adds BURST-BASE sockets
#   after   the same view once the burst farm is gone (after SETTLE more
#           seconds), side by side with the control view
# It prints a table and the ratios after/control and after/fresh; the
# target is after/control <= 2 for both CPU and RSS (exit status 1 when
# missed).
#
# Environment: BASE (default 1000), BURST (default 100000), PHASE (60),
# WARM (5), SETTLE (10), SAMPLE (2), INTERVAL (the view's --interval, 1s),
# SOCKTOP (a socktop binary to measure instead of building this tree),
# GCTRACE=1 (GODEBUG=gctrace=1 for both views, logged to OUT/*.err),
# VIEW_ENV (more NAME=VALUE settings for both views, e.g. GOGC=50),
# OUT (default bench/out/soak).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
: "${BASE:=1000}" "${BURST:=100000}" "${PHASE:=60}"
: "${WARM:=5}" "${SETTLE:=10}" "${SAMPLE:=2}" "${INTERVAL:=1s}"
view_bench_setup soak

FARMS=()
stop_farm() { # pid: SIGTERM makes the farm reset its pairs and destroy its TIME_WAIT sockets
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	for p in "${FARMS[@]}"; do stop_farm "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_farm() { # name n -> sets FARM_PID once the farm printed "ready"
	local name=$1 n=$2 i
	: >"$OUT/$name.out"
	"$OUT/sockfarm" -n "$n" -tw 0.3 -stdin=false -ready-timeout 300s >"$OUT/$name.out" 2>"$OUT/$name.log" &
	FARM_PID=$!
	FARMS+=("$FARM_PID")
	for ((i = 0; i < 600; i++)); do
		grep -q '^ready' "$OUT/$name.out" && return 0
		kill -0 "$FARM_PID" 2>/dev/null || break
		sleep 0.5
	done
	echo "soak.sh: sockfarm -n $n did not get ready: $(tail -3 "$OUT/$name.log")" >&2
	exit 1
}

start_view() { # name -> prints the pid of socktop in a new tmux window
	local name=$1 pid
	if ! tmux -L "$TMUX_SOCK" has-session 2>/dev/null; then
		tmux -L "$TMUX_SOCK" new-session -d -s soak -x 200 -y 50 -n "$name" \
			"$ENVS exec $SOCKTOP --interval $INTERVAL 2>$OUT/$name.err"
	else
		tmux -L "$TMUX_SOCK" new-window -d -t soak -n "$name" \
			"$ENVS exec $SOCKTOP --interval $INTERVAL 2>$OUT/$name.err"
	fi
	sleep 1
	pid=$(tmux -L "$TMUX_SOCK" display-message -p -t "soak:$name" '#{pane_pid}')
	[ -r "/proc/$pid/stat" ] || { echo "soak.sh: view $name did not start (see $OUT/$name.err)" >&2; exit 1; }
	echo "$pid"
}

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
table_size() { ss -tanH | wc -l; }
CLK_TCK=$(getconf CLK_TCK)

RESULTS="$OUT/results.tsv"
: >"$RESULTS"
measure() { # phase pids... -> one line per view in $RESULTS
	local phase=$1
	shift
	local -a pids=("$@") c0 c1 files
	local p i t0 t1 n0 n1 now
	n0=$(table_size)
	for i in "${!pids[@]}"; do
		c0[i]=$(cpu_ticks "${pids[i]}")
		files[i]="$OUT/rss-$phase-$i.txt"
		: >"${files[i]}"
	done
	t0=$(date +%s.%N)
	while :; do
		for i in "${!pids[@]}"; do rss_kib "${pids[i]}" >>"${files[i]}"; done
		now=$(date +%s.%N)
		awk -v a="$t0" -v b="$now" -v p="$PHASE" 'BEGIN { exit !(b - a >= p) }' && break
		sleep "$SAMPLE"
	done
	t1=$(date +%s.%N)
	n1=$(table_size)
	for i in "${!pids[@]}"; do
		c1[i]=$(cpu_ticks "${pids[i]}")
		sort -n "${files[i]}" | awk -v phase="$phase" -v view="${VIEWS[i]}" -v c0="${c0[i]}" -v c1="${c1[i]}" \
			-v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v n0="$n0" -v n1="$n1" '
			{ v[NR] = $1 }
			END { printf "%s\t%s\t%d-%d\t%.2f\t%.1f\t%.1f\t%.1f\n", phase, view, n0, n1,
				100 * (c1 - c0) / hz / (t1 - t0), v[int((NR + 1) / 2)] / 1024, v[NR] / 1024, t1 - t0 }' >>"$RESULTS"
	done
}

{
	echo "date: $(date -u +%FT%TZ)"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)"
	echo "kernel: $(uname -r), cpus: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "socktop: ${ENVS:+$ENVS }$SOCKTOP --interval $INTERVAL; BASE=$BASE BURST=$BURST PHASE=${PHASE}s WARM=${WARM}s SETTLE=${SETTLE}s"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

echo "== base farm: $BASE sockets" >&2
start_farm base "$BASE"
VIEWS=(burst)
V1=$(start_view burst)
[ -n "$V1" ] || exit 1
sleep "$WARM"
echo "== phase fresh (${PHASE}s)" >&2
measure fresh "$V1"

echo "== burst farm: $((BURST - BASE)) more sockets" >&2
start_farm burst "$((BURST - BASE))"
BURST_PID=$FARM_PID
sleep "$WARM"
echo "== phase during (${PHASE}s)" >&2
measure during "$V1"

echo "== burst over" >&2
stop_farm "$BURST_PID"
sleep "$SETTLE"
VIEWS=(burst control)
V2=$(start_view control)
[ -n "$V2" ] || exit 1
sleep "$WARM"
echo "== phase after (${PHASE}s), beside a control view" >&2
measure after "$V1" "$V2"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

SUMMARY="$OUT/summary.md"
awk -F'\t' '
	{ cpu[$1 "/" $2] = $4; rss[$1 "/" $2] = $5
	  rows = rows sprintf("| %s | %s | %s | %.1f | %.2f | %.1f | %.1f |\n", $1, $2, $3, $7, $4, $5, $6) }
	END {
		print "| phase | view | ss -tan lines (start-end) | seconds | CPU % of a core | RSS MiB median | RSS MiB max |"
		print "|---|---|---|---:|---:|---:|---:|"
		printf "%s", rows
		print ""
		c = cpu["after/burst"] / (cpu["after/control"] > 0 ? cpu["after/control"] : 0.01)
		r = rss["after/burst"] / rss["after/control"]
		printf "after/control: CPU %.2f, RSS %.2f (target <= 2 each)\n", c, r
		printf "after/fresh:   CPU %.2f, RSS %.2f\n", cpu["after/burst"] / (cpu["fresh/burst"] > 0 ? cpu["fresh/burst"] : 0.01), rss["after/burst"] / rss["fresh/burst"]
		ok = (c <= 2 && r <= 2)
		print (ok ? "PASS" : "FAIL")
		exit !ok
	}' "$RESULTS" >"$SUMMARY" && status=0 || status=1
{
	echo "# socktop soak: $BASE -> $BURST -> $BASE sockets"
	echo
	sed 's/^/    /' "$OUT/env.txt"
	echo
	cat "$SUMMARY"
} | tee "$OUT/report.md"
exit "$status"
