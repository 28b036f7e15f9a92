#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need
# (tmux for the real-terminal test, iproute2 for ss, the oracle), then
# checks formatting, vets, and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Go toolchain of these machines lives in /usr/local/go; a bare CI
# environment may not have it on PATH.
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m ./...
