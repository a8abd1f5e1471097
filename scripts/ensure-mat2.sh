#!/usr/bin/env bash
# Metadata stripping of evidence working copies uses Debian's mat2 (run inside the parsing sandbox).
# Installs mat2 with apt when it is missing, or stops with a clear message. Without it, the sandbox still
# strips JPEG/PNG/GIF/WEBP by re-encoding pixels with Pillow and refuses other types.
set -euo pipefail
if command -v mat2 >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "mat2 is not installed and installing it needs root: apt-get install mat2" >&2; exit 1
fi
echo "installing Debian's mat2…"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mat2 >/dev/null
command -v mat2 >/dev/null || { echo "mat2 did not install" >&2; exit 1; }
