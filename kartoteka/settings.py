"""Django settings, read from the environment with typed helpers. They fail closed.

No default secret key; DEBUG only when asked; outside demo mode a master key file inside the data
directory stops the application (see kartoteka/checks.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from kartoteka.envconfig import env_bool, env_int, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent

DEMO = env_bool("KARTOTEKA_DEMO", False)
DEBUG = env_bool("KARTOTEKA_DEBUG", False)
DATA_DIR = env_path("KARTOTEKA_DATA_DIR", Path("var"))
KEYS_DIR = env_path("KARTOTEKA_KEYS_DIR", DATA_DIR / "keys")
AGENT_SOCKET = env_path("KARTOTEKA_AGENT_SOCKET", KEYS_DIR / "run" / "agent.sock")
# Outside the data directory on purpose: truncating the database cannot also roll this back.
AUDIT_HEAD_FILE = env_path("KARTOTEKA_AUDIT_HEAD_FILE", Path.home() / ".local/state/kartoteka/audit-head")
EVIDENCE_DIR = DATA_DIR / "evidence"


def _secret_key() -> str:
    key = env_str("KARTOTEKA_SECRET_KEY", "")
    if key:
        return key
    if DEMO:
        # The demo keeps its own random key beside its synthetic data; never used outside demo mode.
        path = DATA_DIR / "demo-secret-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(os.urandom(32).hex())
            path.chmod(0o600)
        return path.read_text().strip()
    raise ImproperlyConfigured("KARTOTEKA_SECRET_KEY is not set (no default, by design)")


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = [h for h in env_str("KARTOTEKA_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    # django-otp's own TOTP and static plugins are not installed: they keep seeds and codes in clear;
    # kartoteka.accounts has sealed devices instead (accounts/otp.py).
    "django_otp",
    "kartoteka.core",
    "kartoteka.accounts",
    "kartoteka.registry",
    "kartoteka.people",
    "kartoteka.casework",
    "kartoteka.law",
    "kartoteka.audit",
    "kartoteka.intake",
    "kartoteka.intake.triage",
    "kartoteka.imports",
    "kartoteka.reports",
    "kartoteka.linkage",
    "kartoteka.estimation",
    "kartoteka.exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # After authentication and OTP: bearer tokens, idle/absolute session limits, then the login wall.
    "kartoteka.accounts.middleware.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kartoteka.urls"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kartoteka.core.context_processors.site",
            ],
        },
    },
]


# The embedded database's connection options.
SQLITE_OPTIONS: dict[str, object] = {
    # IMMEDIATE: a writer takes the lock at BEGIN, so the audit head cannot fork between writers.
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    # A 64 MiB page cache and 128 MiB of memory-mapped reads keep the name-term index's hot pages
    # in memory (its inserts land at random places); checkpoints every 16 MiB of WAL rather
    # than 4 MiB rewrite those pages less often during an import. 16 KiB pages (set when the
    # file is created; an existing file keeps its own): a batch of name terms dirties
    # about one page per term either way, and fewer, larger pages cut the insert and the
    # checkpoint of 4 million random terms by about a third (docs/benchmarks-people.md).
    "init_command": (
        "PRAGMA page_size=16384; "
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON; "
        "PRAGMA cache_size=-65536; PRAGMA mmap_size=134217728; PRAGMA wal_autocheckpoint=4096;"
    ),
}


def _databases() -> dict[str, dict[str, object]]:
    url = env_str("DATABASE_URL", "")
    if url:
        import dj_database_url

        db: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
        return {"default": db}
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "kartoteka.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }


DATABASES = _databases()

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
STATIC_ROOT = DATA_DIR / "static"

# Absolute lifetime of a session from sign-in (enforced by kartoteka.accounts.middleware, not only the cookie).
SESSION_COOKIE_AGE = env_int("KARTOTEKA_SESSION_MAX_AGE", 8 * 3600)
KARTOTEKA_SESSION_IDLE_MINUTES = env_int("KARTOTEKA_SESSION_IDLE_MINUTES", 30)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Password throttling per account (not per IP, which we never store): 1 s doubling to this cap.
KARTOTEKA_LOGIN_MAX_DELAY_SECONDS = env_int("KARTOTEKA_LOGIN_MAX_DELAY_SECONDS", 15 * 60)
KARTOTEKA_BREAK_GLASS_MINUTES = env_int("KARTOTEKA_BREAK_GLASS_MINUTES", 60)
KARTOTEKA_IDENTITY_READ_ALERT = env_int("KARTOTEKA_IDENTITY_READ_ALERT", 200)
KARTOTEKA_IDENTITY_READ_WINDOW_MINUTES = 10
KARTOTEKA_API_TOKEN_MAX_DAYS = env_int("KARTOTEKA_API_TOKEN_MAX_DAYS", 365)
OTP_TOTP_ISSUER = "Kartoteka"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not (DEBUG or DEMO)
CSRF_COOKIE_SECURE = not (DEBUG or DEMO)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on POST and CSRF refuses
# every form. The referrer still never leaves the site.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = 0 if (DEBUG or DEMO) else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not (DEBUG or DEMO)
SECURE_HSTS_PRELOAD = not (DEBUG or DEMO)
SECURE_SSL_REDIRECT = env_bool("KARTOTEKA_SSL_REDIRECT", not (DEBUG or DEMO))

# Logs never carry request bodies, IPs or names: only our own logger, at WARNING and above, to stderr.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": True,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"kartoteka": {"handlers": ["stderr"], "level": "WARNING"}},
}
