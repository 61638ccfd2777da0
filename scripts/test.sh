#!/usr/bin/env bash
# Runs rhom's test suite on a fresh machine: creates .venv, installs rhom with its
# extras, installs redis-server when missing (as root), then runs pytest. Extra arguments
# go to pytest. Without redis-server and no way to install it (a non-root user, say), the
# Redis tier (tests marked "redis") is skipped with a notice and everything else runs; under
# CI (CI=true) that fails instead: CI must run the Redis tier.
# pytest's exit code passes through unchanged: "no tests ran" (5) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
redis=0
bash scripts/ensure-redis.sh || redis=$?
if [ "$redis" = 0 ]; then
    exec .venv/bin/python -m pytest "$@"
elif [ "$redis" != 3 ]; then
    exit "$redis"
fi
notice() {
    echo "rhom: $1 the Redis tier: the tests marked 'redis' (the Redis store, on a private redis-server)." >&2
    echo "rhom: to run it too, install redis-server (Debian/Ubuntu: sudo apt-get install redis-server," >&2
    echo "rhom: or run scripts/test.sh as root; macOS: brew install redis), then run scripts/test.sh again." >&2
}
notice "SKIPPING"
status=0
# -m first: a -m among the arguments replaces it (add "and not redis" to it)
.venv/bin/python -m pytest -m "not redis" "$@" || status=$?
notice "SKIPPED"  # again, below pytest's output
exit "$status"
