#!/usr/bin/env bash
# Runs rhom's benchmarks (not part of the test suite). Usage: scripts/bench.sh [models|...] [args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
which=${1:-models}
shift || true
exec .venv/bin/python -m "benchmarks.${which}" "$@"
