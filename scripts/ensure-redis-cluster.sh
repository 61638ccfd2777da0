#!/usr/bin/env bash
# Makes sure a redis-server exists (any since 3.0 runs in cluster mode): the Redis Cluster tests
# (pytest marker "redis_cluster") start their own cluster from it, 3 masters and 3
# replicas on free 127.0.0.1 ports with AOF on (rhom.server.testing.redis_cluster; no
# redis-cli needed). Installs Debian's redis-server when missing, as ensure-redis.sh.
# Exit status as scripts/ensure-debian-packages.sh: 0 there, 3 skip, 1 fail under CI.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-packages.sh" redis-server "the Redis Cluster tests" \
    "command -v redis-server >/dev/null 2>&1" redis-server
