#!/usr/bin/env bash
# Browser tests drive Debian's chromium through Playwright (executable_path); no browser is ever downloaded.
# Installs chromium with apt when it is missing, or stops with a clear message.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is not installed and installing it needs root: apt-get install chromium" >&2; exit 1
fi
echo "installing Debian's chromium…"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null || { echo "chromium did not install" >&2; exit 1; }
