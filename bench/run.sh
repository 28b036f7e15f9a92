#!/usr/bin/env bash
# bench/run.sh [sizes...]: measure socktop against ss and netstat on a
# loopback socket table of each size (default 1000 10000 100000).
#
# For each size: sockfarm builds the table (127.77.0.0/16 and ::1, 30%
# TIME_WAIT), timeit alternates the commands over rounds, the collect and
# ui Go benchmarks run while the table is held, and socktop's live view
# runs in a detached tmux session for LIVE_SECONDS to read its CPU use.
# Results go to bench/out/<size>/, a markdown summary to
# bench/out/summary.md (and stdout).
#
# Environment: ROUNDS (rounds per size; default 21/15/9 for <=1k/<=10k/more),
# LIVE_SECONDS (default 20), TW (TIME_WAIT fraction, default 0.3),
# BENCH_COUNT (go test -count for the Go benchmarks, default 3),
# SKIP_GOBENCH=1, SKIP_LIVE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
# --limits (or ONLY=limits): only the rows of issue 14's Targets table,
# up to a million sockets (bench/limits.sh says how).
if [ "${1:-}" = --limits ] || [ "${ONLY:-}" = limits ]; then
	[ "${1:-}" = --limits ] && shift
	exec bench/limits.sh "$@"
fi
OUT=bench/out
mkdir -p "$OUT"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 100000)
LIVE_SECONDS=${LIVE_SECONDS:-20}
TW=${TW:-0.3}
TMUX_SOCK=socktop-bench-$$

command -v ss >/dev/null || { echo "run.sh: ss (iproute2) is needed" >&2; exit 1; }
if ! command -v netstat >/dev/null; then
	echo "run.sh: netstat missing, installing net-tools" >&2
	apt-get install -y net-tools >/dev/null || { apt-get update >/dev/null && apt-get install -y net-tools >/dev/null; }
fi

go build -o "$OUT/sockfarm" ./bench/sockfarm
go build -o "$OUT/timeit" ./bench/timeit
HAVE_SOCKTOP=0
if go build -o "$OUT/socktop" . 2>"$OUT/socktop-build.log"; then
	HAVE_SOCKTOP=1
else
	echo "run.sh: socktop does not build yet (see $OUT/socktop-build.log): measuring the baselines only" >&2
fi
HAVE_TMUX=0
command -v tmux >/dev/null && HAVE_TMUX=1

{
	echo "date: $(date -u +%FT%TZ)"
	echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "kernel: $(uname -r), cpus: $(nproc)"
	echo "ss: $(ss -V 2>&1 | head -1)"
	echo "netstat: $(netstat -V 2>&1 | head -1)"
	echo "go: $(go version)"
} >"$OUT/env.txt"

FARM_PID=
stop_farm() {
	if [ -n "${FARM_PID}" ]; then
		# Closing the farm's stdin stops it; it resets its pairs and
		# destroys its TIME_WAIT sockets on the way out.
		[ -n "${FARM[1]:-}" ] && eval "exec ${FARM[1]}>&-" 2>/dev/null || true
		kill -TERM "$FARM_PID" 2>/dev/null || true
		wait "$FARM_PID" 2>/dev/null || true
		FARM_PID=
	fi
}
stop_live() { tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true; }
trap 'stop_live; stop_farm' EXIT
trap 'exit 130' INT TERM

# clk_tck: the unit of utime and stime in /proc/PID/stat.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of PID; fields after the ")" that ends comm
	local rest
	rest=$(sed 's/^.*) //' "/proc/$1/stat")
	awk '{print $12 + $13}' <<<"$rest"
}

live_cpu() { # size dir -> writes $dir/live.txt
	local dir=$2 pid t0 t1 c0 c1
	stop_live
	tmux -L "$TMUX_SOCK" new-session -d -s live -x 200 -y 50 \
		"exec $PWD/$OUT/socktop --interval 1s 2>$PWD/$dir/live.err"
	sleep 3 # start-up and first owner scan are not the steady state
	pid=$(tmux -L "$TMUX_SOCK" display-message -p -t live '#{pane_pid}' 2>/dev/null) || pid= # gone if socktop already exited
	if ! [ -r "/proc/$pid/stat" ]; then
		echo "live view did not start (see $dir/live.err)" >"$dir/live.txt"
		return
	fi
	c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
	sleep "$LIVE_SECONDS"
	if ! [ -r "/proc/$pid/stat" ]; then
		echo "live view exited during the measurement (see $dir/live.err)" >"$dir/live.txt"
		return
	fi
	c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
	local hwm
	hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
	tmux -L "$TMUX_SOCK" capture-pane -p -t live >"$dir/live-screen.txt" || true
	stop_live
	awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v hwm="$hwm" 'BEGIN {
		printf "live view, 200x50, --interval 1s, %.1f s: %.1f%% of one core (%d ticks), peak RSS %s MiB\n",
			t1 - t0, 100 * (c1 - c0) / hz / (t1 - t0), c1 - c0, hwm }' >"$dir/live.txt"
}

SUMMARY="$OUT/summary.md"
{
	echo "# socktop benchmark run"
	echo
	sed 's/^/    /' "$OUT/env.txt"
} >"$SUMMARY"

for n in "${SIZES[@]}"; do
	dir="$OUT/$n"
	mkdir -p "$dir"
	rounds=${ROUNDS:-$([ "$n" -le 1000 ] && echo 21 || { [ "$n" -le 10000 ] && echo 15 || echo 9; })}
	echo "== $n sockets: building the table" >&2
	coproc FARM { exec "$OUT/sockfarm" -n "$n" -tw "$TW" 2>"$dir/farm.log"; }
	line=
	if ! read -r -t 300 -u "${FARM[0]}" line || [[ $line != ready* ]]; then
		echo "run.sh: sockfarm -n $n did not get ready: $(cat "$dir/farm.log")" >&2
		exit 1
	fi
	# Other programs' sockets are part of what every tool has to read:
	# record the whole table, not only the farm's share.
	echo "$line, total ss -tan lines: $(ss -tanH | wc -l), load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$dir/table.txt" >&2

	cmds=(ss-tan='ss -tan' ss-tanp='ss -tanp' netstat-tanp='netstat -tanp')
	ratios=()
	if [ "$HAVE_SOCKTOP" = 1 ]; then
		cmds+=(once="$OUT/socktop --once" noowners="$OUT/socktop --once --no-owners" json="$OUT/socktop --once --json")
		if [ "$n" -ge 100000 ]; then
			ratios=(-ratio 'once/ss-tanp<=0.3' -ratio 'noowners/ss-tan<=0.9' -ratio json/ss-tanp)
		else
			ratios=(-ratio 'once/ss-tanp<=0.5' -ratio 'noowners/ss-tan<=1' -ratio json/ss-tanp)
		fi
	fi
	echo "== $n sockets: timeit, $rounds rounds" >&2
	"$OUT/timeit" -rounds "$rounds" -baseline ss-tan "${ratios[@]}" -json "$dir/timeit.json" "${cmds[@]}" \
		| tee "$dir/timeit.md" >&2 || echo "run.sh: timeit reported failures" >&2

	if [ "${SKIP_GOBENCH:-0}" != 1 ]; then
		echo "== $n sockets: go benchmarks (collect, filter, output, ui)" >&2
		: >"$dir/gobench.txt"
		# One package at a time: a package that does not build must not
		# keep the other from being measured.
		for pkg in ./collect/ ./filter/ ./output/ ./ui/; do
			go test -run XXX -bench . -benchmem -count "${BENCH_COUNT:-3}" "$pkg" >>"$dir/gobench.txt" 2>&1 \
				|| echo "run.sh: go test -bench $pkg failed, see $dir/gobench.txt" >&2
		done
	fi
	if [ "${SKIP_LIVE:-0}" != 1 ] && [ "$HAVE_SOCKTOP" = 1 ] && [ "$HAVE_TMUX" = 1 ]; then
		echo "== $n sockets: live view CPU for ${LIVE_SECONDS}s" >&2
		live_cpu "$n" "$dir"
		cat "$dir/live.txt" >&2
	fi
	stop_farm

	{
		echo
		echo "## $n sockets"
		echo
		echo "$(cat "$dir/table.txt")"
		echo
		cat "$dir/timeit.md"
		if [ -s "$dir/live.txt" ]; then echo; cat "$dir/live.txt"; fi
		if [ -s "$dir/gobench.txt" ]; then
			echo
			echo '```'
			grep -E '^(Benchmark|ok|FAIL|---)' "$dir/gobench.txt" || true
			echo '```'
		fi
	} >>"$SUMMARY"
done
cat "$SUMMARY"
