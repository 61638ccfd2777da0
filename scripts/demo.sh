#!/usr/bin/env bash
# Runs the end-to-end demo on the embedded defaults (SQLite everywhere, nothing to configure).
# Creates .venv (once) and installs rhom with its server extra: a demo needs no test tools
# (scripts/bootstrap.sh installs those for scripts/test.sh; a .venv it made is used as is).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
fresh() { [ -f "$1" ] && ! [ pyproject.toml -nt "$1" ]; }
if ! fresh .venv/.rhom-installed && ! fresh .venv/.rhom-demo-installed; then
    .venv/bin/python -m pip install --quiet -e ".[server]"
    touch .venv/.rhom-demo-installed
fi
exec .venv/bin/python -m rhom.demo "$@"
