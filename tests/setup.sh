#!/bin/sh
# What the test suite needs on a fresh machine: the Python packages, Debian's Chromium for the browser tests
# (Playwright drives /usr/bin/chromium; it never downloads a browser of its own) and Debian's Redis server for the
# tests of the Redis job queue.
set -eu
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/redis-server ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium chromium-driver redis-server > /dev/null
fi
