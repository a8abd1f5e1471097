"""Browser tests: Playwright for Python driving Debian's chromium (never a browser Playwright downloads).

chromium comes from `make services` (scripts/ensure-chromium.sh). A missing browser or Playwright is a
failure with a message saying what to install, never a skip: a skipped browser test looks like a pass.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("playwright") is None:
    raise ImportError(
        "the browser tests need Playwright for Python: .venv/bin/pip install playwright "
        "(the PyPI package ships its driver; never run `playwright install`, chromium comes from Debian)"
    )
