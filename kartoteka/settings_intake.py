"""Settings of the public intake host: the base settings, reduced to what /report/ needs.

Only public keys here: the system check kartoteka.E101 (kartoteka.intake.checks) refuses to start when
the key directory holds slots or a keyring, a key file lies in the data directory, a key agent socket is
configured or answers, or a demo key is set. The casework side pulls sealed submissions from
/intake-sync/ with a bearer secret whose SHA-256 is KARTOTEKA_INTAKE_SYNC_TOKEN_SHA256.
"""

from __future__ import annotations

from kartoteka.settings import *  # noqa: F403
from kartoteka.settings import BASE_DIR

KARTOTEKA_INTAKE_ONLY = True
INSTALLED_APPS = ["django.contrib.staticfiles", "kartoteka.intake"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "kartoteka.intake.headers.StrictHeadersMiddleware",
]
ROOT_URLCONF = "kartoteka.intake.public_urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
# Nothing is ever written to a temporary file; non-file fields and field counts are bounded.
FILE_UPLOAD_HANDLERS = ["kartoteka.intake.uploads.IntakeUploadHandler"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# KARTOTEKA_INTAKE_RECOVERY_RECIPIENT, _SYNC_TOKEN_SHA256, _RATE_PER_MINUTE, _BURST, _QUOTA_MB,
# _MAX_FILES and _MAX_FILE_MB are read from the environment (kartoteka.intake.conf).
