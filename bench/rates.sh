#!/usr/bin/env bash
# bench/rates.sh [sizes...]: what tcp_info and the rate columns cost, on a
# loopback socket table of each size (default 10000 100000) built by
# sockfarm. timeit alternates one snapshot without and with tcp_info
# (--once --no-owners, the same with -i, ss -tan and ss -tani), and
# --rates' two snapshots 100ms apart; then the live view runs in a
# detached tmux session for LIVE_SECONDS without and with --rates (the
# t key's state at start) to read its CPU use. The load average is
# recorded with every figure: the host is shared. Results go to
# bench/out/rates/<size>/ and a summary to bench/out/rates/summary.md.
#
# Environment: ROUNDS (default 9), LIVE_SECONDS (default 20), TW (TIME_WAIT
# fraction, default 0.3).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=bench/out/rates
mkdir -p "$OUT"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
LIVE_SECONDS=${LIVE_SECONDS:-20}
TW=${TW:-0.3}
ROUNDS=${ROUNDS:-9}
TMUX_SOCK=socktop-rates-$$
need ss tmux
go build -o "$OUT/sockfarm" ./bench/sockfarm
go build -o "$OUT/timeit" ./bench/timeit
go build -o "$OUT/socktop" .

FARM_PID=
stop_farm() {
	if [ -n "${FARM_PID}" ]; then
		[ -n "${FARM[1]:-}" ] && eval "exec ${FARM[1]}>&-" 2>/dev/null || true
		kill -TERM "$FARM_PID" 2>/dev/null || true
		wait "$FARM_PID" 2>/dev/null || true
		FARM_PID=
	fi
}
stop_live() { tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true; }
trap 'stop_live; stop_farm' EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
	local rest
	rest=$(sed 's/^.*) //' "/proc/$1/stat")
	awk '{print $12 + $13}' <<<"$rest"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# live_cpu DIR NAME ARGS...: the live view's CPU over LIVE_SECONDS, with ARGS.
live_cpu() {
	local dir=$1 name=$2 pid c0 c1 t0 t1 l0 l1 hwm
	shift 2
	stop_live
	tmux -L "$TMUX_SOCK" new-session -d -s live -x 200 -y 50 \
		"exec $PWD/$OUT/socktop --interval 1s $* 2>$PWD/$dir/$name.err"
	sleep 3
	pid=$(tmux -L "$TMUX_SOCK" display-message -p -t live '#{pane_pid}' 2>/dev/null) || pid=
	if ! [ -r "/proc/$pid/stat" ]; then
		echo "$name: live view did not start (see $dir/$name.err)"
		return
	fi
	l0=$(loadavg); c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
	sleep "$LIVE_SECONDS"
	c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N); l1=$(loadavg)
	hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
	tmux -L "$TMUX_SOCK" capture-pane -p -t live >"$dir/$name-screen.txt" || true
	stop_live
	awk -v n="$name" -v a="$*" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v hwm="$hwm" \
		-v l0="$l0" -v l1="$l1" 'BEGIN {
		printf "%s (socktop --interval 1s %s), 200x50, %.1f s: %.1f%% of one core, peak RSS %s MiB; load average %s before, %s after\n",
			n, a, t1 - t0, 100 * (c1 - c0) / hz / (t1 - t0), hwm, l0, l1 }'
}

SUMMARY="$OUT/summary.md"
{
	echo "# tcp_info and rates: cost"
	echo
	echo "    date: $(date -u +%FT%TZ), git: $(git rev-parse --short HEAD), kernel: $(uname -r), cpus: $(nproc)"
} >"$SUMMARY"
for n in "${SIZES[@]}"; do
	dir="$OUT/$n"
	mkdir -p "$dir"
	echo "== $n sockets: building the table" >&2
	coproc FARM { exec "$OUT/sockfarm" -n "$n" -tw "$TW" 2>"$dir/farm.log"; }
	line=
	if ! read -r -t 600 -u "${FARM[0]}" line || [[ $line != ready* ]]; then
		echo "rates.sh: sockfarm -n $n did not get ready: $(cat "$dir/farm.log")" >&2
		exit 1
	fi
	echo "$line, total ss -tan lines: $(ss -tanH | wc -l), load average: $(loadavg)" | tee "$dir/table.txt" >&2
	echo "== $n sockets: timeit, $ROUNDS rounds" >&2
	{
		echo "load average before: $(loadavg)"
		"$OUT/timeit" -rounds "$ROUNDS" -baseline noinfo -json "$dir/timeit.json" \
			noinfo="$OUT/socktop --once --no-owners" \
			info="$OUT/socktop --once --no-owners -i" \
			rates="$OUT/socktop --once --no-owners --rates --interval 100ms" \
			ss-tan='ss -tan' ss-tani='ss -tani' || echo "rates.sh: timeit reported failures"
		echo "load average after: $(loadavg)"
	} | tee "$dir/timeit.md" >&2
	echo "== $n sockets: live view CPU, ${LIVE_SECONDS}s each" >&2
	{
		live_cpu "$dir" live-norates
		live_cpu "$dir" live-rates --rates
	} | tee "$dir/live.txt" >&2
	stop_farm
	{
		echo
		echo "## $n sockets"
		echo
		cat "$dir/table.txt"
		echo
		cat "$dir/timeit.md"
		echo
		cat "$dir/live.txt"
	} >>"$SUMMARY"
done
cat "$SUMMARY"
