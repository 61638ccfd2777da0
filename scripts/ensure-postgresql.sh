#!/usr/bin/env bash
# Makes sure PostgreSQL's initdb and postgres exist: the SqlAdapter tests on PostgreSQL
# (pytest marker "postgresql") start their own private cluster from them, in a temporary
# directory on a Unix socket (rhom.server.sql.testing.postgres_server). Installs Debian's
# postgresql when missing; Debian keeps the binaries in /usr/lib/postgresql/<version>/bin,
# off the PATH, where the tests look too (the package may also start a system cluster on
# port 5432; the tests do not use it).
# Exit status as scripts/ensure-debian-packages.sh: 0 there, 3 skip, 1 fail under CI.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-packages.sh" postgresql "the PostgreSQL tests of SqlAdapter" \
    "[ -x \"\${RHOM_PG_BINDIR:-/nonexistent}/initdb\" ] || command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1" \
    postgresql
