"""Settings for the test suite: the real settings module, with a throwaway secret and data directory.

Production settings have no default secret; tests get a random one per run instead of a fixed string.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile

os.environ.setdefault("KARTOTEKA_SECRET_KEY", secrets.token_hex(32))
# A private temporary directory per test process, removed at exit: the canary scans look through $TMPDIR,
# and must see what this run wrote, not what other programs left in /tmp.
_private_tmp = tempfile.mkdtemp(prefix="kt-")  # short: Unix socket paths must stay under 108 bytes
os.chmod(_private_tmp, 0o711)  # noqa: S103 traversable, not listable: the agent tests reach in as another uid
os.environ["TMPDIR"] = _private_tmp
tempfile.tempdir = _private_tmp
# One data directory (and so one key directory and agent socket) per process: xdist workers inherit the
# controller's environment, and two workers must never share a key agent.
os.environ["KARTOTEKA_DATA_DIR"] = tempfile.mkdtemp(prefix="kartoteka-test-", dir=_private_tmp)
os.environ.setdefault("KARTOTEKA_SSL_REDIRECT", "0")
# Beside, not inside, the data directory: the head file must survive a truncated database.
os.environ["KARTOTEKA_AUDIT_HEAD_FILE"] = os.environ["KARTOTEKA_DATA_DIR"] + "-audit-head"
atexit.register(shutil.rmtree, _private_tmp, ignore_errors=True)

from kartoteka.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; Argon2 is tested on its own
