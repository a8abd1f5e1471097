"""Settings for the test suite: the real settings module, with a throwaway secret and data directory.

Production settings have no default secret; tests get a random one per run instead of a fixed string.
"""

from __future__ import annotations

import os
import secrets
import tempfile

os.environ.setdefault("KARTOTEKA_SECRET_KEY", secrets.token_hex(32))
# One data directory (and so one key directory and agent socket) per process: xdist workers inherit the
# controller's environment, and two workers must never share a key agent.
os.environ["KARTOTEKA_DATA_DIR"] = tempfile.mkdtemp(prefix="kartoteka-test-")
os.environ.setdefault("KARTOTEKA_SSL_REDIRECT", "0")
# Beside, not inside, the data directory: the head file must survive a truncated database.
os.environ["KARTOTEKA_AUDIT_HEAD_FILE"] = os.environ["KARTOTEKA_DATA_DIR"] + "-audit-head"

from kartoteka.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; Argon2 is tested on its own
