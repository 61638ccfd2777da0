#!/usr/bin/env bash
# Runs rhom's test suite on a fresh machine: creates .venv, installs rhom with its
# extras, installs redis-server when missing, then runs pytest. Extra arguments go to pytest.
# pytest's exit code passes through unchanged: "no tests ran" (5) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-redis.sh
exec .venv/bin/python -m pytest "$@"
