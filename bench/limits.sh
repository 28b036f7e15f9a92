#!/usr/bin/env bash
# bench/limits.sh (or bench/run.sh --limits, or ONLY=limits bench/run.sh):
# the rows of issue 14's Targets table, and nothing else.
#
#   10k   the live view at --interval 1s
#   100k  --once --no-owners 'sport = :P' against ss -tan 'sport = :P'
#         (P = 61000, the farm's first client port: a few dozen sockets,
#         none of other programs' ephemeral ports); the live view at 1 s,
#         unfiltered and with that one-port filter
#   1M    --once --no-owners against ss -tan, --once against ss -tanp,
#         --json; the live view at --interval 2s, timed per refresh
#         through SOCKTOP_REFRESH_LOG
#
# The big table is as large as the host holds: sockfarm shrinks it to
# the free tw buckets, memory and open files and logs "LIMIT ..." lines,
# copied into the record, and stops (LIMIT memory) if MemAvailable falls
# under what it leaves free (-keep-free; KEEP_FREE_MIB here), which the
# record also says. TIME_WAIT is asked for up to the kernel's cap.
# Results go to bench/out/limits/<size>/ and bench/out/limits/summary.md.
#
# Environment: SMALL, MID, BIG (table sizes, default 10000 100000
# 1000000), ROUNDS_MID (default 9), ROUNDS_BIG (default 5), LIVE_SECONDS
# (1 s views, default 20), LIVE_SECONDS_BIG (2 s view, default 60),
# WARMUP_BIG (unmeasured rounds first, default 1), TIMEOUT_BIG (per run,
# default 15m: ss -tanp reads every descriptor of the host), PORT
# (default 61000), TW_BIG (TIME_WAIT fraction asked of the big
# table, default 0.13: the farm keeps it under tcp_max_tw_buckets),
# STEPS (which of small mid big to run, default all three), SETTLE
# (seconds from the farm's "ready" before a live view is measured,
# default 65: sockfarm's first generation of TIME_WAIT sockets, built in
# a few seconds, ends out of the kernel's timer order, which the live
# view's patches cannot follow; docs/performance.md, "Patches").
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/limits
mkdir -p "$OUT"
SMALL=${SMALL:-10000}
MID=${MID:-100000}
BIG=${BIG:-1000000}
PORT=${PORT:-61000}
LIVE_SECONDS=${LIVE_SECONDS:-20}
LIVE_SECONDS_BIG=${LIVE_SECONDS_BIG:-60}
STEPS=${STEPS:-small mid big}
TMUX_SOCK=socktop-limits-$$

for t in ss tmux; do
	command -v "$t" >/dev/null || { echo "limits.sh: $t is needed" >&2; exit 1; }
done
go build -o "$OUT/sockfarm" ./bench/sockfarm
go build -o "$OUT/timeit" ./bench/timeit
go build -o "$OUT/socktop" .
BIN=$PWD/$OUT

FPID= # the farm's pid: bash unsets the coproc's own FARM_PID when it ends
stop_farm() {
	if [ -n "${FPID:-}" ]; then
		# The end of its stdin, or SIGTERM, stops the farm; it resets its
		# pairs and destroys its TIME_WAIT sockets on the way out.
		[ -n "${FARM[1]:-}" ] && eval "exec ${FARM[1]}>&-" 2>/dev/null || true
		kill -TERM "$FPID" 2>/dev/null || true
		wait "$FPID" 2>/dev/null || true
		FPID=
	fi
}
stop_live() { tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true; }
trap 'stop_live; stop_farm' EXIT
trap 'exit 130' INT TERM HUP

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# start_farm N TW DIR: builds the table and waits for "ready".
start_farm() {
	local n=$1 tw=$2 dir=$3 line
	echo "== $n sockets: building the table" >&2
	coproc FARM { exec "$BIN/sockfarm" -n "$n" -tw "$tw" -ready-timeout 600s -keep-free "${KEEP_FREE_MIB:-0}" 2>"$dir/farm.log"; }
	FPID=$FARM_PID
	if ! read -r -t 1800 -u "${FARM[0]}" line || [[ $line != ready* ]]; then
		echo "limits.sh: sockfarm -n $n did not get ready: $(cat "$dir/farm.log")" >&2
		exit 1
	fi
	FARM_READY=$(date +%s)
	{
		echo "$line (asked $n), total ss -tan lines: $(ss -tanH | wc -l), load average: $(loadavg)"
		echo "sockstat: $(grep '^TCP:' /proc/net/sockstat); $(grep -E '^(Slab|MemAvailable):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
		grep -E 'LIMIT|process\(es\)|built in' "$dir/farm.log" | sed 's/^sockfarm: //'
	} | tee "$dir/table.txt" >&2
}

# farm_held DIR: notes in DIR/table.txt when the farm stopped before the
# measurements ended (its memory guard gives way to the host's programs).
farm_held() {
	if ! kill -0 "$FPID" 2>/dev/null; then
		echo "the farm STOPPED during the measurements: $(grep LIMIT "$1/farm.log" | tail -1)" | tee -a "$1/table.txt" >&2
	fi
}

cpu_ticks() { # utime+stime of PID: fields 14 and 15, counted after comm's ")"
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# live DIR NAME INTERVAL SECONDS [FILTER]: runs the live view in a 200x50
# tmux pane and writes DIR/NAME.txt: CPU share, peak RSS and, from the
# refresh log, each refresh's duration against the interval.
live() {
	local dir=$1 name=$2 interval=$3 secs=$4 filter=${5:-} pid c0 c1 t0 t1 hwm rlog
	rlog=$PWD/$dir/$name-refresh.log
	: >"$rlog"
	stop_live
	local wait=$(( ${SETTLE:-65} - ($(date +%s) - ${FARM_READY:-0}) ))
	if [ "$wait" -gt 0 ]; then
		echo "== $name: waiting ${wait} s for the farm's first TIME_WAIT generation to end" >&2
		sleep "$wait"
	fi
	tmux -L "$TMUX_SOCK" new-session -d -s live -x 200 -y 50 \
		"SOCKTOP_REFRESH_LOG=$rlog exec $BIN/socktop --interval $interval ${filter:+'$filter'} 2>$PWD/$dir/$name.err"
	# Start-up and the first owner scan are not the steady state: wait for
	# two refreshes (or 30 s).
	for _ in $(seq 1 60); do [ "$(wc -l <"$rlog")" -ge 2 ] && break; sleep 0.5; done
	pid=$(tmux -L "$TMUX_SOCK" display-message -p -t live '#{pane_pid}' 2>/dev/null) || pid=
	if [ -z "$pid" ] || ! [ -r "/proc/$pid/stat" ]; then
		echo "$name: the live view did not start (see $dir/$name.err)" | tee "$dir/$name.txt" >&2
		return
	fi
	local skip
	skip=$(wc -l <"$rlog")
	c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
	sleep "$secs"
	if ! [ -r "/proc/$pid/stat" ]; then
		echo "$name: the live view exited during the measurement (see $dir/$name.err)" | tee "$dir/$name.txt" >&2
		return
	fi
	c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
	hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
	tmux -L "$TMUX_SOCK" capture-pane -p -t live >"$dir/$name-screen.txt" || true
	stop_live
	local ims
	ims=$(awk -v i="$interval" 'BEGIN { v = i + 0; if (i ~ /ms$/) print v; else if (i ~ /m$/) print v * 60000; else print v * 1000 }')
	{
		awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" -v hwm="$hwm" \
			-v name="$name" -v iv="$interval" -v f="$filter" 'BEGIN {
			printf "%s: live view, 200x50, --interval %s%s, %.1f s: %.1f%% of one core, peak RSS %s MiB\n",
				name, iv, (f == "" ? "" : " \"" f "\""), t1 - t0, 100 * (c1 - c0) / hz / (t1 - t0), hwm }'
		# Refreshes after the warm-up: count, median, slowest, over the
		# interval, and the collection's share of the slowest.
		# The process's CPU over the window, divided by the refreshes that
		# finished in it, is the CPU a refresh costs whatever the load; the
		# wall times stretch with the load.
		# Field 5 is the refresh's kind: a walk (a dump of the table) or a
		# peek (the rows on screen looked up, ui/gate.go); a log without
		# it is an older binary's, whose refreshes all walk.
		tail -n +"$((skip + 1))" "$rlog" | sort -t' ' -k2,2n | awk -v ims="$ims" -v name="$name" \
			-v ticks="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" '
			{ d[NR] = $2; c[NR] = $3; if ($2 > ims) over++
			  k = ($5 == "" ? "walk" : $5); n[k]++; if (k != "peek") s = $4
			  kd[k, n[k]] = $2 }
			END {
				if (NR == 0) { print name ": no refresh finished during the measurement"; exit }
				printf "%s: %d refreshes of %d sockets: median %.0f ms, slowest %.0f ms (collection %.0f ms), %d over the %d ms interval; CPU per refresh %.0f ms\n",
					name, NR, s, d[int((NR + 1) / 2)], d[NR], c[NR], over, ims, 1000 * ticks / hz / NR
				for (k in n)
					printf "%s: %d %ss, median %.1f ms, slowest %.1f ms\n", name, n[k], k, kd[k, int((n[k] + 1) / 2)], kd[k, n[k]] }'
	} | tee "$dir/$name.txt" >&2
}

SUMMARY=$OUT/summary.md
{
	echo "# issue 14 limits run"
	echo
	echo "    date: $(date -u +%FT%TZ), git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "    kernel: $(uname -r), cpus: $(nproc), ss: $(ss -V 2>&1 | head -1), $(go version)"
	echo "    load average at start: $(loadavg); memory: $(free -m | awk '/^Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
} >"$SUMMARY"

section() { # DIR TITLE FILES...: appends DIR's results to the summary
	local dir=$1 title=$2 f
	shift 2
	{
		echo
		echo "## $title"
		echo
		sed 's/^/    /' "$dir/table.txt"
		for f; do
			[ -s "$dir/$f" ] || continue
			echo
			cat "$dir/$f"
		done
	} >>"$SUMMARY"
}

for step in $STEPS; do
	case $step in
	small)
		dir=$OUT/$SMALL; mkdir -p "$dir"
		start_farm "$SMALL" 0.3 "$dir"
		live "$dir" live-1s 1s "$LIVE_SECONDS"
		farm_held "$dir"
		stop_farm
		section "$dir" "$SMALL sockets" live-1s.txt
		;;
	mid)
		dir=$OUT/$MID; mkdir -p "$dir"
		start_farm "$MID" 0.3 "$dir"
		f="sport = :$PORT"
		echo "filter '$f' selects $(ss -tanH "$f" | wc -l) of $(ss -tanH | wc -l) TCP sockets (ss)" | tee -a "$dir/table.txt" >&2
		echo "== $MID sockets: timeit, ${ROUNDS_MID:-9} rounds" >&2
		"$BIN/timeit" -rounds "${ROUNDS_MID:-9}" -baseline ss-port -ratio 'noowners-port/ss-port<=1.0' -json "$dir/timeit.json" \
			ss-port="ss -tan '$f'" noowners-port="$BIN/socktop --once --no-owners '$f'" \
			| tee "$dir/timeit.md" >&2 || echo "limits.sh: timeit reported failures" >&2
		live "$dir" live-1s 1s "$LIVE_SECONDS"
		live "$dir" live-1s-port 1s "$LIVE_SECONDS" "$f"
		farm_held "$dir"
		stop_farm
		section "$dir" "$MID sockets" timeit.md live-1s.txt live-1s-port.txt
		;;
	big)
		dir=$OUT/big; mkdir -p "$dir"
		start_farm "$BIG" "${TW_BIG:-0.13}" "$dir"
		echo "== big table: timeit, ${ROUNDS_BIG:-5} rounds" >&2
		"$BIN/timeit" -rounds "${ROUNDS_BIG:-5}" -warmup "${WARMUP_BIG:-1}" -timeout "${TIMEOUT_BIG:-15m}" -baseline ss-tan \
			-ratio 'noowners/ss-tan<=0.6' -ratio 'once/ss-tanp<=0.15' -ratio json/ss-tanp -json "$dir/timeit.json" \
			ss-tan='ss -tan' ss-tanp='ss -tanp' once="$BIN/socktop --once" \
			noowners="$BIN/socktop --once --no-owners" json="$BIN/socktop --once --json" \
			| tee "$dir/timeit.md" >&2 || echo "limits.sh: timeit reported failures" >&2
		live "$dir" live-2s 2s "$LIVE_SECONDS_BIG"
		farm_held "$dir"
		stop_farm
		section "$dir" "the big table" timeit.md live-2s.txt
		;;
	*) echo "limits.sh: unknown step $step (small, mid, big)" >&2; exit 2 ;;
	esac
done
cat "$SUMMARY"
