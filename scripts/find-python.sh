#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (Django 6 needs it), or stop with a clear message.
set -euo pipefail
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
for c in python3.12 python3.13 python3 \
         "$HOME"/.pyenv/versions/3.12*/bin/python3 "$HOME"/.pyenv/versions/3.13*/bin/python3 \
         /usr/bin/python3.13 /usr/bin/python3.12; do
  p=$(command -v "$c" 2>/dev/null || true)
  if [ -n "$p" ] && ok "$p"; then
    # pyenv shims resolve per directory; hand back the real interpreter.
    "$p" -c 'import sys; print(sys.executable)'; exit 0
  fi
done
echo "Kartoteka needs Python 3.12 or newer (Django 6). Install it (e.g. 'apt-get install python3.12' or" \
     "'pyenv install 3.12') and run make again." >&2
exit 1
