#!/usr/bin/env bash
# bench/netns.sh: the cost of one --all-netns refresh over the same number
# of sockets (SOCKETS, default 4000) held in 1 network namespace or spread
# over 100 (or over 10 of 100, the other 90 empty), and the ratios, in two
# configurations:
#
#   shared  the namespaces use the host's hash tables (the kernel default,
#           net.ipv4.tcp_child_ehash_entries = 0), which every namespace's
#           dump walks whole, host sockets included;
#   child   every namespace gets tables of its own (TCP_CHILD and UDP_CHILD
#           entries, default 256), as a container host can set.
#
# The Go benchmark (collect BenchmarkNetNSRefresh) runs in an empty network
# namespace of its own (unshare -n), so only its namespaces are dumped
# besides that one. For "child" the sysctls are set in an outer unshare -n
# namespace and again in the benchmark's: a namespace gets tables of its
# own when the namespace it is made from has them set, and they are not
# inherited. The host's settings are never touched. Needs root (ip netns
# add, setns). CONFIGS=child runs one.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCKETS=${SOCKETS:-4000}
COUNT=${COUNT:-20}
TCP_CHILD=${TCP_CHILD:-256}
UDP_CHILD=${UDP_CHILD:-256}
CONFIGS=${CONFIGS:-"shared child"}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/collect.test" ./collect
printf '%s\n' 'ip link set lo up' \
	"exec $bin/collect.test -test.run '^\$' -test.bench NetNSRefresh -test.benchtime ${COUNT}x" >"$bin/run.sh"
sysctls="sysctl -qw net.ipv4.tcp_child_ehash_entries=$TCP_CHILD net.ipv4.udp_child_hash_entries=$UDP_CHILD"
for config in $CONFIGS; do
	case $config in
	shared) cmd="unshare -n sh $bin/run.sh" ;;
	child) cmd="unshare -n sh -c '$sysctls && unshare -n sh -c \"$sysctls && sh $bin/run.sh\"'" ;;
	*) echo "unknown config $config" >&2; exit 2 ;;
	esac
	echo "== $config: $cmd"
	if ! out=$(SOCKTOP_NETNS_SOCKETS=$SOCKETS sh -c "$cmd" 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	echo "$out" | grep Benchmark
	echo "$out" | awk -v config="$config" '
		/BenchmarkNetNSRefresh\/spaces=/ {
			split($1, p, "/"); key = p[3] "/" p[4]; sub(/-[0-9]+$/, "", key)
			if (p[2] == "spaces=1") one[key] = $3; else { many[p[2] SUBSEP key] = $3; cases[p[2]] = 1 }
		}
		END {
			for (c in cases) for (k in one) if ((c SUBSEP k) in many)
				printf "%s %s %s: 1 namespace %.1f ms, %s %.1f ms, ratio %.1fx\n", config, c, k, one[k] / 1e6, c, many[c SUBSEP k] / 1e6, many[c SUBSEP k] / one[k]
		}'
done
