#!/usr/bin/env bash
# bench/serve.sh [N]: one scrape of `socktop serve` against one
# `socktop --once --no-owners` on a sockfarm table of N sockets (default
# 100000). timeit alternates `curl /metrics` with the one-shot command for
# wall time; the serve process's own CPU (utime+stime from /proc/PID/stat)
# over ROUNDS scrapes, divided by ROUNDS, is its cost per scrape, with
# what it does between scrapes (the listeners' owner passes, the kernel
# event readers) included.
#
# Environment: ROUNDS (default 15), SERVE_ARGS (more serve flags), OUT
# (default bench/out/serve).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${1:-100000}
ROUNDS=${ROUNDS:-15}
OUT=${OUT:-bench/out/serve}
mkdir -p "$OUT"
need curl ss
go build -o "$OUT/sockfarm" ./bench/sockfarm
go build -o "$OUT/timeit" ./bench/timeit
go build -o "$OUT/socktop" .

FARM_PID= SERVE_PID=
cleanup() {
	[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
	[ -n "$FARM_PID" ] && kill -TERM "$FARM_PID" 2>/dev/null && wait "$FARM_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$OUT/sockfarm" -n "$N" -tw 0.3 -stdin=false >"$OUT/farm.out" 2>"$OUT/farm.log" &
FARM_PID=$!
for ((i = 0; i < 600; i++)); do
	grep -q '^ready' "$OUT/farm.out" && break
	kill -0 "$FARM_PID" 2>/dev/null || { echo "serve.sh: sockfarm failed: $(tail -3 "$OUT/farm.log")" >&2; exit 1; }
	sleep 0.5
done
grep -q '^ready' "$OUT/farm.out" || { echo "serve.sh: sockfarm -n $N did not get ready" >&2; exit 1; }

# shellcheck disable=SC2086
"$OUT/socktop" serve --listen 127.0.0.1:0 ${SERVE_ARGS:-} 2>"$OUT/serve.err" &
SERVE_PID=$!
ADDR=
for ((i = 0; i < 100; i++)); do
	ADDR=$(grep -o 'on 127\.0\.0\.1:[0-9]*' "$OUT/serve.err" | cut -d' ' -f2) && [ -n "$ADDR" ] && break
	sleep 0.2
done
[ -n "$ADDR" ] || { echo "serve.sh: serve did not start: $(cat "$OUT/serve.err")" >&2; exit 1; }
curl -sf -o /dev/null "http://$ADDR/metrics" # warm: the first scrape sizes the buffers
sleep 2

CLK_TCK=$(getconf CLK_TCK)
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
c0=$(ticks "$SERVE_PID"); t0=$(date +%s.%N)
for ((i = 0; i < ROUNDS; i++)); do curl -sf -o /dev/null "http://$ADDR/metrics"; done
sleep 1 # the owner pass a scrape kicks runs after it
c1=$(ticks "$SERVE_PID"); t1=$(date +%s.%N)

{
	echo "date: $(date -u +%FT%TZ), git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "kernel: $(uname -r), cpus: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "farm: $(cat "$OUT/farm.out" | tail -1), ss -tan lines: $(ss -tanH | wc -l)"
	echo "serve: socktop serve ${SERVE_ARGS:-}; $(grep -c '' "$OUT/serve.err") notice lines"
	awk -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" -v r="$ROUNDS" -v t0="$t0" -v t1="$t1" 'BEGIN {
		printf "serve CPU per scrape (with its background work): %.1f ms over %d scrapes in %.1f s\n", 1000 * (c1 - c0) / hz / r, r, t1 - t0 }'
	echo "serve peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVE_PID/status")"
	echo "scrape size: $(curl -sf "http://$ADDR/metrics" | wc -c) bytes"
} | tee "$OUT/summary.txt"
"$OUT/timeit" -rounds "$ROUNDS" -baseline noowners -ratio 'scrape/noowners<=1' -json "$OUT/timeit.json" \
	scrape="curl -sf -o /dev/null http://$ADDR/metrics" noowners="$OUT/socktop --once --no-owners" | tee -a "$OUT/summary.txt"
