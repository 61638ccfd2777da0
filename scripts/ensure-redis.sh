#!/usr/bin/env bash
# Makes sure a redis-server binary exists: the Redis store tests (pytest marker "redis")
# start their own server on 127.0.0.1 from it. Installs Debian's redis-server when missing,
# if this runs as root with apt-get.
# Exit status: 0 redis-server is there; 3 it is missing and cannot be installed here (not
# root, no apt-get, or the install failed), and scripts/test.sh then skips the Redis tests;
# 1 the same under CI (CI=true), which must run the Redis tests.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
case "${CI:-}" in
    true | TRUE | True | 1) ci=1 ;;
    *) ci=0 ;;
esac
if [ "$(id -u)" != 0 ]; then
    reason="not root, so it cannot apt-get install redis-server"
elif ! command -v apt-get >/dev/null 2>&1; then
    reason="no apt-get to install it with"
else
    echo "rhom: installing redis-server (Debian package) for the Redis store tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package may start a system service on port 6379; the tests start their own.
    if apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null \
        && command -v redis-server >/dev/null 2>&1; then
        exit 0
    fi
    reason="apt-get could not install it"
fi
if [ "$ci" = 1 ]; then
    echo "rhom: redis-server not found ($reason); CI must run the Redis tests: failing" >&2
    exit 1
fi
echo "rhom: redis-server not found ($reason)" >&2
exit 3
