#!/usr/bin/env bash
# Makes sure Debian's headless Chromium and its ChromeDriver exist (/usr/bin/chromium,
# /usr/bin/chromedriver): the browser tests (pytest marker "browser") drive them.
# Installs the packages chromium and chromium-driver when missing, if this runs as root
# with apt-get. No browser is ever downloaded by a test tool.
# Exit status: 0 both are there; 3 missing and cannot be installed here (not root, no
# apt-get, or the install failed), and scripts/test.sh then skips the browser tests;
# 1 the same under CI (CI=true), which must run the browser tests.
set -euo pipefail
present() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }
if present; then
    exit 0
fi
case "${CI:-}" in
    true | TRUE | True | 1) ci=1 ;;
    *) ci=0 ;;
esac
if [ "$(id -u)" != 0 ]; then
    reason="not root, so it cannot apt-get install chromium chromium-driver"
elif ! command -v apt-get >/dev/null 2>&1; then
    reason="no apt-get to install them with"
else
    echo "rhom: installing chromium and chromium-driver (Debian packages) for the browser tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null && present; then
        exit 0
    fi
    reason="apt-get could not install them"
fi
if [ "$ci" = 1 ]; then
    echo "rhom: chromium or chromedriver not found ($reason); CI must run the browser tests: failing" >&2
    exit 1
fi
echo "rhom: chromium or chromedriver not found ($reason)" >&2
exit 3
