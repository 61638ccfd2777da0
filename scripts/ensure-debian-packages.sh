#!/usr/bin/env bash
# Shared by scripts/ensure-*.sh: make sure a tool the tests need exists, installing its
# Debian packages when missing, if this runs as root with apt-get.
#
#   ensure-debian-packages.sh NAME PURPOSE CHECK PACKAGE...
#
# NAME names the tool in messages ("redis-server"); PURPOSE says what needs it ("the Redis
# store tests"); CHECK is a shell command that succeeds when the tool is there.
# Exit status: 0 the tool is there; 3 it is missing and cannot be installed here (not
# root, no apt-get, or the install failed), and scripts/test.sh then skips those tests;
# 1 the same under CI (CI=true), which must run them.
set -euo pipefail
name=$1 purpose=$2 check=$3
shift 3
if eval "$check"; then
    exit 0
fi
case "${CI:-}" in
    true | TRUE | True | 1) ci=1 ;;
    *) ci=0 ;;
esac
if [ "$(id -u)" != 0 ]; then
    reason="not root, so it cannot apt-get install $*"
elif ! command -v apt-get >/dev/null 2>&1; then
    reason="no apt-get to install $* with"
else
    echo "rhom: installing $* (Debian packages) for $purpose" >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null && eval "$check"; then
        exit 0
    fi
    reason="apt-get could not install $*"
fi
if [ "$ci" = 1 ]; then
    echo "rhom: $name not found ($reason); CI must run $purpose: failing" >&2
    exit 1
fi
echo "rhom: $name not found ($reason)" >&2
exit 3
