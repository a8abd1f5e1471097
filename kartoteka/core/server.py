"""`kartoteka serve`: gunicorn in-process, configured to keep no access log (no IPs, no URLs on disk)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Application(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from kartoteka.wsgi import application

        return application


def serve(*, host: str, port: int, workers: int) -> None:
    from django.core.management import call_command

    # Outside DEBUG, WhiteNoise serves only collected files: without this every page comes unstyled.
    call_command("collectstatic", interactive=False, verbosity=0)
    _Application(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "accesslog": None,  # an access log would store IPs, user agents and URLs
            "errorlog": "-",
            "loglevel": "warning",
            "limit_request_line": 8190,
            "limit_request_field_size": 8190,
            "timeout": 60,
            "proc_name": "kartoteka",
        }
    ).run()
