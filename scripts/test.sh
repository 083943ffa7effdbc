#!/bin/sh
# test.sh: the whole test suite, as `make test` runs it.
#
# Everything runs with the race detector. Where it is allowed (root, or
# unprivileged user namespaces), the tests run inside a private network
# namespace of their own (unshare -n), so no test packet can leave the
# machine whatever a test does; the namespace gets only a loopback.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh

# The generated FlatBuffers code must be what tick.fbs produces.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd schema && flatc --go -o "$tmp" tick.fbs)
if ! diff -r "$tmp/fb" schema/internal/fb >/dev/null; then
	echo "test: schema/internal/fb is stale: run go generate ./schema" >&2
	diff -r "$tmp/fb" schema/internal/fb >&2 || true
	exit 1
fi
(cd schema && flatc --python -o "$tmp/py" tick.fbs)
# (Python's byte-code cache, if a run left one, is not generated code.)
if ! diff -r -x __pycache__ "$tmp/py/fb" python/fb >/dev/null; then
	echo "test: python/fb is stale: run go generate ./schema" >&2
	diff -r -x __pycache__ "$tmp/py/fb" python/fb >&2 || true
	exit 1
fi
(cd schema && flatc --cpp -o "$tmp/cpp" tick.fbs)
if ! diff "$tmp/cpp/tick_generated.h" cpp/tick_generated.h >/dev/null; then
	echo "test: cpp/tick_generated.h is stale: run go generate ./schema" >&2
	diff "$tmp/cpp/tick_generated.h" cpp/tick_generated.h >&2 || true
	exit 1
fi

gofiles=$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')
gofmt_out=$(gofmt -l $gofiles)
if [ -n "$gofmt_out" ]; then
	echo "test: gofmt would change:" >&2
	echo "$gofmt_out" >&2
	exit 1
fi
gobin=$(go env GOPATH)/bin
imports_out=$("$gobin/goimports" -l -local github.com/tickcast/tickcast $gofiles)
if [ -n "$imports_out" ]; then
	echo "test: goimports -local github.com/tickcast/tickcast would change:" >&2
	echo "$imports_out" >&2
	exit 1
fi
go vet ./...
"$gobin/staticcheck" ./...

# Build the test binaries first: the network namespace has no route to the
# module proxy.
go test -race -count=1 -run '^$' ./... >/dev/null

run="go test -race -count=1 -timeout 15m ./..."
if unshare -n true 2>/dev/null; then
	echo "test: running in a private network namespace (unshare -n)" >&2
	exec unshare -n sh -c "ip link set lo up && GOPROXY=off $run"
fi
if unshare -rn true 2>/dev/null; then
	echo "test: running in a private user and network namespace (unshare -rn)" >&2
	exec unshare -rn sh -c "ip link set lo up && GOPROXY=off $run"
fi
echo "test: cannot create a network namespace here; running on the host's loopback" >&2
exec $run
