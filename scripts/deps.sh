#!/bin/sh
# deps.sh: make sure what the tests need is installed, from Debian's packages.
#
#   python3-zmq          libzmq 4.3.4 (built with OpenPGM) for the interop tests
#   python3-flatbuffers  the FlatBuffers runtime of python/fb, for the Python recovery client's test
#   flatbuffers-compiler flatc 2.0.8, to check the generated schema code
#   iproute2, nftables   network namespaces and loss injection
#   libcap2-bin          capsh, to test raw PGM without CAP_NET_RAW
#   gcc, libzmq3-dev     the libzmq C peer of tickcast bench (and its test)
#   prometheus           promtool, to check the metrics tickcast exports
#   g++, libflatbuffers-dev  the C++ example built on cpp/tick_generated.h (its test)
#
# and, from the Go module proxy at pinned versions (go install, into
# $(go env GOPATH)/bin), the static checks' tools: staticcheck and goimports.
# Installs what is missing when run as root with apt-get; otherwise says
# what to install and fails.
set -eu

missing=""
/usr/bin/python3 -c 'import zmq' 2>/dev/null || missing="$missing python3-zmq"
/usr/bin/python3 -c 'import flatbuffers' 2>/dev/null || missing="$missing python3-flatbuffers"
command -v flatc >/dev/null 2>&1 || missing="$missing flatbuffers-compiler"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v nft >/dev/null 2>&1 || missing="$missing nftables"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
command -v capsh >/dev/null 2>&1 || missing="$missing libcap2-bin"
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
[ -f /usr/include/zmq.h ] || missing="$missing libzmq3-dev"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
command -v g++ >/dev/null 2>&1 || missing="$missing g++"
[ -f /usr/include/flatbuffers/flatbuffers.h ] || missing="$missing libflatbuffers-dev"

# The Go tools, at the versions CI uses.
STATICCHECK_VERSION=v0.8.2
GOIMPORTS_VERSION=v0.45.0
gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	echo "deps: go install staticcheck@$STATICCHECK_VERSION" >&2
	go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if [ ! -x "$gobin/goimports" ]; then
	echo "deps: go install goimports@$GOIMPORTS_VERSION" >&2
	go install "golang.org/x/tools/cmd/goimports@$GOIMPORTS_VERSION"
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
	exit 0
fi
echo "deps: missing:$missing" >&2
echo "deps: install them (as root: apt-get install$missing) and run again" >&2
exit 1
