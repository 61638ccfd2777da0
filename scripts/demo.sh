#!/usr/bin/env bash
# Runs the end-to-end demo on the embedded defaults (SQLite everywhere, nothing to configure).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m rhom.demo "$@"
