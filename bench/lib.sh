# bench/lib.sh: what the live-view benchmarks (idle.sh, soak.sh) share.
# Sourced from the repository's root, never run.

# need TOOL...: exits with a message unless every TOOL is on PATH.
need() {
	local t
	for t; do
		command -v "$t" >/dev/null || { echo "${0##*/}: $t is needed" >&2; exit 1; }
	done
}

# view_bench_setup NAME: sets OUT (default bench/out/NAME, made absolute
# and created) and TMUX_SOCK (a tmux server of this run's own), checks for
# tmux and ss, builds sockfarm into OUT and, unless SOCKTOP names a binary
# to measure, socktop from this tree; sets SOCKTOP, and ENVS to the
# environment of the views: VIEW_ENV, plus GODEBUG=gctrace=1 under
# GCTRACE=1.
view_bench_setup() {
	OUT=${OUT:-bench/out/$1}
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	TMUX_SOCK=socktop-$1-$$
	need tmux ss
	go build -o "$OUT/sockfarm" ./bench/sockfarm
	if [ -z "${SOCKTOP:-}" ]; then
		go build -o "$OUT/socktop" .
		SOCKTOP=$OUT/socktop
	fi
	ENVS=${VIEW_ENV:-}
	if [ "${GCTRACE:-0}" = 1 ]; then
		ENVS="${ENVS:+$ENVS }GODEBUG=gctrace=1"
	fi
}
