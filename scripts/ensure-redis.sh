#!/usr/bin/env bash
# Makes sure a redis-server binary exists: the Redis store tests start their own
# server on 127.0.0.1 from it. Installs Debian's redis-server when missing.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "rhom: installing redis-server (Debian package) for the Redis store tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
    # The package may start a system service on port 6379; the tests start their own.
else
    echo "rhom: redis-server not found and cannot be installed here (need root + apt-get)" >&2
    exit 1
fi
