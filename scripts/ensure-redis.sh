#!/usr/bin/env bash
# Makes sure a redis-server binary exists: the Redis store tests (pytest marker "redis")
# start their own server on 127.0.0.1 from it. Installs Debian's redis-server when missing
# (the package may start a system service on port 6379; the tests start their own).
# Exit status as scripts/ensure-debian-packages.sh: 0 there, 3 skip, 1 fail under CI.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-packages.sh" redis-server "the Redis store tests" \
    "command -v redis-server >/dev/null 2>&1" redis-server
