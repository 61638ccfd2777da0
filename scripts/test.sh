#!/usr/bin/env bash
# Runs rhom's test suite on a fresh machine: creates .venv, installs rhom with its
# extras, installs redis-server, Debian's chromium + chromium-driver, Debian's
# postgresql and Debian's mariadb-server when missing (as root), then runs pytest.
# Extra arguments go to pytest. Without redis-server, chromium, PostgreSQL or MariaDB,
# and no way to install it (a non-root user, say), that tier (tests marked "redis",
# "redis_cluster", "browser", "postgresql" or "mariadb") is skipped with a notice and
# everything else runs; under CI (CI=true)
# that fails instead: CI must run every tier. The Redis Cluster tier starts its own
# cluster (3 masters + 3 replicas of redis-server on loopback ports, AOF on) and kills a
# master in its failover test.
# pytest's exit code passes through unchanged: "no tests ran" (5) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
skipped=()
for tier in redis redis-cluster chromium postgresql mariadb; do
    status=0
    bash "scripts/ensure-$tier.sh" || status=$?
    if [ "$status" = 3 ]; then
        skipped+=("$tier")
    elif [ "$status" != 0 ]; then
        exit "$status"
    fi
done
if [ ${#skipped[@]} = 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
markers=()
for tier in "${skipped[@]}"; do
    case "$tier" in
        redis) markers+=("not redis") ;;
        redis-cluster) markers+=("not redis_cluster") ;;
        chromium) markers+=("not browser") ;;
        postgresql) markers+=("not postgresql") ;;
        mariadb) markers+=("not mariadb") ;;
    esac
done
notice() {
    for tier in "${skipped[@]}"; do
        case "$tier" in
            redis)
                echo "rhom: $1 the Redis tier: the tests marked 'redis' (the Redis store, on a private redis-server)." >&2
                echo "rhom: to run it too, install redis-server (Debian/Ubuntu: sudo apt-get install redis-server," >&2
                echo "rhom: or run scripts/test.sh as root; macOS: brew install redis), then run scripts/test.sh again." >&2
                ;;
            redis-cluster)
                echo "rhom: $1 the Redis Cluster tier: the tests marked 'redis_cluster' (the redis+cluster:// store on a" >&2
                echo "rhom: private 3+3 cluster, its contract suite and a master killed under two server processes)." >&2
                echo "rhom: to run it too, install redis-server (as for the Redis tier), then run scripts/test.sh again." >&2
                ;;
            chromium)
                echo "rhom: $1 the browser tier: the tests marked 'browser' (headless Chromium: a smoke test, the web console)." >&2
                echo "rhom: to run it too, install Debian's chromium and chromium-driver (sudo apt-get install" >&2
                echo "rhom: chromium chromium-driver, or run scripts/test.sh as root), then run scripts/test.sh again." >&2
                ;;
            postgresql)
                echo "rhom: $1 the PostgreSQL tier: the tests marked 'postgresql' (SqlAdapter on a private PostgreSQL cluster)." >&2
                echo "rhom: to run it too, install Debian's postgresql (sudo apt-get install postgresql, or run" >&2
                echo "rhom: scripts/test.sh as root; elsewhere set RHOM_PG_BINDIR to the folder of initdb), then run scripts/test.sh again." >&2
                ;;
            mariadb)
                echo "rhom: $1 the MariaDB tier: the tests marked 'mariadb' (SqlAdapter, change capture and the plugin on a private MariaDB server)." >&2
                echo "rhom: to run it too, install Debian's mariadb-server (sudo apt-get install mariadb-server, or run" >&2
                echo "rhom: scripts/test.sh as root; elsewhere set RHOM_MARIADB_BINDIR to the folder of mariadbd), then run scripts/test.sh again." >&2
                ;;
        esac
    done
}
notice "SKIPPING"
joined=$(printf ' and %s' "${markers[@]}")
status=0
# -m first: a -m among the arguments replaces it (add the same "and not ..." to it)
.venv/bin/python -m pytest -m "${joined# and }" "$@" || status=$?
notice "SKIPPED"  # again, below pytest's output
exit "$status"
