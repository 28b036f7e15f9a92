#!/usr/bin/env bash
# bench/idle.sh: an idle live view on a steady table, over a long run. The
# view must stay flat: sockfarm holds N sockets (with its steady TIME_WAIT
# churn), socktop runs in a detached tmux session (200x50) at INTERVAL,
# and every SAMPLE seconds its VmRSS and CPU ticks are recorded. Prints
# the samples, RSS at the start and the end, and the CPU share of each
# half of the run.
#
# Environment: N (default 10000), INTERVAL (250ms), SECONDS_TOTAL (360),
# SAMPLE (20), WARM (5), SOCKTOP (a binary to measure instead of building
# this tree), GCTRACE=1 (GODEBUG=gctrace=1, logged to OUT/view.err),
# VIEW_ENV (more NAME=VALUE settings for the view, e.g. GOGC=50), OUT
# (default bench/out/idle).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
: "${N:=10000}" "${INTERVAL:=250ms}" "${SAMPLE:=20}" "${WARM:=5}"
TOTAL=${SECONDS_TOTAL:-360}
view_bench_setup idle

FARM_PID=
cleanup() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	if [ -n "$FARM_PID" ]; then
		kill -TERM "$FARM_PID" 2>/dev/null || true
		wait "$FARM_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$OUT/sockfarm" -n "$N" -tw 0.3 -stdin=false >"$OUT/farm.out" 2>"$OUT/farm.log" &
FARM_PID=$!
for ((i = 0; i < 600; i++)); do
	grep -q '^ready' "$OUT/farm.out" && break
	kill -0 "$FARM_PID" 2>/dev/null || { echo "idle.sh: sockfarm failed: $(tail -3 "$OUT/farm.log")" >&2; exit 1; }
	sleep 0.5
done
grep -q '^ready' "$OUT/farm.out" || { echo "idle.sh: sockfarm -n $N did not get ready" >&2; exit 1; }

tmux -L "$TMUX_SOCK" new-session -d -s idle -x 200 -y 50 "$ENVS exec $SOCKTOP --interval $INTERVAL 2>$OUT/view.err"
sleep "$WARM"
pid=$(tmux -L "$TMUX_SOCK" display-message -p -t idle '#{pane_pid}')
[ -r "/proc/$pid/stat" ] || { echo "idle.sh: the view did not start (see $OUT/view.err)" >&2; exit 1; }

{
	echo "date: $(date -u +%FT%TZ), git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "kernel: $(uname -r), cpus: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "socktop: ${ENVS:+$ENVS }$SOCKTOP --interval $INTERVAL; farm: $(cat "$OUT/farm.out")"
} >"$OUT/env.txt"
CLK_TCK=$(getconf CLK_TCK)
SAMPLES="$OUT/samples.tsv"
echo -e "t_s\tss_lines\trss_mib\tcpu_ticks" >"$SAMPLES"
t0=$(date +%s.%N)
while :; do
	now=$(date +%s.%N)
	ticks=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
	rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
	echo -e "$(awk -v a="$t0" -v b="$now" 'BEGIN {printf "%.0f", b - a}')\t$(ss -tanH | wc -l)\t$rss\t$ticks" >>"$SAMPLES"
	awk -v a="$t0" -v b="$now" -v p="$TOTAL" 'BEGIN { exit !(b - a >= p) }' && break
	sleep "$SAMPLE"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

{
	echo "# socktop idle view: $N sockets, --interval $INTERVAL, ${TOTAL}s"
	echo
	sed 's/^/    /' "$OUT/env.txt"
	echo
	echo '```'
	column -t "$SAMPLES"
	echo '```'
	awk -F'\t' -v hz="$CLK_TCK" 'NR > 1 { t[NR] = $1; r[NR] = $3; c[NR] = $4; n = NR }
		END {
			m = int((n + 2) / 2)
			printf "RSS start %.1f MiB, end %.1f MiB (end/start %.2f)\n", r[2], r[n], r[n] / r[2]
			printf "CPU first half %.2f %%, second half %.2f %% of a core\n",
				100 * (c[m] - c[2]) / hz / (t[m] - t[2]), 100 * (c[n] - c[m]) / hz / (t[n] - t[m])
		}' "$SAMPLES"
} | tee "$OUT/report.md"
