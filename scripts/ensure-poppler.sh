#!/usr/bin/env bash
# The report tests turn PDF pages into images with pdftoppm (Debian's poppler-utils), kept as test artefacts.
# Installs poppler-utils with apt when pdftoppm is missing, or stops with a clear message.
set -euo pipefail
if command -v pdftoppm >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "pdftoppm is not installed and installing it needs root: apt-get install poppler-utils" >&2; exit 1
fi
echo "installing Debian's poppler-utils…"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
command -v pdftoppm >/dev/null || { echo "poppler-utils did not install" >&2; exit 1; }
