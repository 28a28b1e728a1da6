#!/bin/sh
# What the test suite needs on a fresh machine: the Python packages, Debian's Chromium for the browser tests
# (Playwright drives /usr/bin/chromium; it never downloads a browser of its own) and, if it can be had, Debian's
# Redis server for the tests of the Redis job queue, and nginx and Caddy for the tests that run the hosting guide's
# proxy configurations (each is skipped, saying so, without it).
set -eu
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_update() {  # once, and only when something is missing
    [ -n "$APT_UPDATED" ] || { $SUDO apt-get update -qq && APT_UPDATED=1; }
}
if [ ! -x /usr/bin/chromium ]; then
    apt_update
    $SUDO apt-get install -y -qq chromium chromium-driver > /dev/null
fi
if [ ! -x /usr/bin/redis-server ]; then
    { apt_update && $SUDO apt-get install -y -qq redis-server > /dev/null; } \
        || echo "tests/setup.sh: redis-server could not be installed; the Redis queue tests will be skipped."
fi
if [ ! -x /usr/sbin/nginx ] || [ ! -x /usr/bin/caddy ]; then
    { apt_update && $SUDO apt-get install -y -qq nginx-light caddy > /dev/null; } \
        || echo "tests/setup.sh: nginx or caddy could not be installed; the proxy tests will be skipped."
fi
