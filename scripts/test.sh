#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need
# (tmux for the real-terminal test, iproute2 for ss, the oracle,
# prometheus for the exporter's scrape tests), then
# checks formatting, vets, and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Go toolchain of these machines lives in /usr/local/go; a bare CI
# environment may not have it on PATH.
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
# Debian's prometheus gives the server and promtool the serve tests run.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Every socket test needs loopback traffic. A network namespace made with
# `unshare -n` has lo down; rather than change a namespace it did not make,
# the suite runs again in a new one of its own with lo up.
if [ -z "${SOCKTOP_TEST_OWN_NETNS:-}" ] && ip -o link show lo 2>/dev/null | grep -qv '[<,]UP[,>]'; then
  echo "lo is down in this network namespace: running the suite in a new one with lo up"
  userns=""
  [ "$(id -u)" = 0 ] || userns="-r"
  exec unshare $userns -n env SOCKTOP_TEST_OWN_NETNS=1 sh -c 'ip link set lo up && exec "$0"' "$PWD/scripts/test.sh"
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
# The platform files (_linux.go, _other.go) must keep building elsewhere.
for goos in darwin freebsd windows; do GOOS=$goos go vet ./...; done
go test -race -count=1 -timeout 15m ./...
