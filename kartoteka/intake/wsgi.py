"""WSGI entry of the public intake host: runs the intake checks first, so a misconfigured host with a
private key in reach never serves a request (not only under `kartoteka serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kartoteka.settings_intake")
application = get_wsgi_application()

from kartoteka.intake.checks import private_key_problems  # noqa: E402

if private_key_problems():
    raise SystemExit(
        "kartoteka intake: refusing to start with a private key in reach (run `kartoteka check`)"
    )
