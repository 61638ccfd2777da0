#!/usr/bin/env bash
# Makes sure Debian's headless Chromium and its ChromeDriver exist (/usr/bin/chromium,
# /usr/bin/chromedriver): the browser tests (pytest marker "browser") drive them. No
# browser is ever downloaded by a test tool.
# Exit status as scripts/ensure-debian-packages.sh: 0 there, 3 skip, 1 fail under CI.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-packages.sh" "chromium or chromedriver" "the browser tests" \
    "[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]" chromium chromium-driver
