#!/usr/bin/env bash
# bench/netns.sh: the cost of one --all-netns refresh over the same number
# of sockets (SOCKETS, default 4000) held in 1 network namespace or spread
# over 100, and the ratio of the two. The Go benchmark
# (collect BenchmarkNetNSRefresh) runs in an empty network namespace of
# its own (unshare -n), so only the benchmark's namespaces are dumped;
# the host's sockets still share the kernel's hash tables, which every
# namespace's dump walks. Needs root (ip netns add, setns).
set -euo pipefail
cd "$(dirname "$0")/.."
SOCKETS=${SOCKETS:-4000}
COUNT=${COUNT:-5}
out=$(SOCKTOP_NETNS_SOCKETS=$SOCKETS unshare -n sh -c \
	"ip link set lo up && go test -run '^$' -bench 'NetNSRefresh' -benchtime ${COUNT}x ./collect")
echo "$out"
echo "$out" | awk '
	/BenchmarkNetNSRefresh\/spaces=/ {
		split($1, p, "/"); key = p[3] "/" p[4]; sub(/-[0-9]+$/, "", key)
		if (p[2] == "spaces=1") one[key] = $3; else many[key] = $3
	}
	END {
		for (k in one) if (k in many)
			printf "%s: 1 namespace %.1f ms, 100 namespaces %.1f ms, ratio %.1fx\n", k, one[k] / 1e6, many[k] / 1e6, many[k] / one[k]
	}'
