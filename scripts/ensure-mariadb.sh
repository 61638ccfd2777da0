#!/usr/bin/env bash
# Makes sure MariaDB's mariadb-install-db and mariadbd exist: the SqlAdapter tests on
# MariaDB (pytest marker "mariadb") start their own private server from them, with a
# data directory in a temporary directory and a Unix socket there, no TCP port
# (rhom.server.sql.testing.mariadb_server). Installs Debian's mariadb-server when missing
# (Debian keeps mariadbd in /usr/sbin, where the tests look too; the package may also
# start a system server on port 3306: the tests do not use it).
# Exit status as scripts/ensure-debian-packages.sh: 0 there, 3 skip, 1 fail under CI.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-packages.sh" mariadbd "the MariaDB tests of SqlAdapter" \
    "[ -x \"\${RHOM_MARIADB_BINDIR:-/nonexistent}/mariadbd\" ] || command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]" \
    mariadb-server
