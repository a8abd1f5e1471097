"""`kartoteka demo`: everything a first look needs, on the embedded SQLite database, with synthetic data.

Demo mode keeps its master key in a clear file inside the data directory; the application refuses that
file outside demo mode (kartoteka.core.checks). Nothing here may run against real data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kartoteka.lib import agent, keys

DEMO_BANNER = (
    "DEMO MODE — synthetic data only; the master key is in a clear file. Never enter real data here."
)


def _data_dir() -> Path:
    return Path(os.environ.get("KARTOTEKA_DATA_DIR", "var")).expanduser().resolve()


def keys_and_agent(data_dir: Path) -> tuple[Path, Path]:
    """Initialise demo keys once and make sure an unlocked agent answers; return (keys dir, socket)."""
    keys_dir = Path(os.environ.get("KARTOTEKA_KEYS_DIR", data_dir / "keys"))
    socket_path = Path(os.environ.get("KARTOTEKA_AGENT_SOCKET", keys_dir / "run" / "agent.sock"))
    demo_key = data_dir / "demo.key"
    if not (keys_dir / keys.SLOTS_FILE).exists():
        keys.init(keys_dir, None, demo_key_file=demo_key)
    client = agent.AgentClient(socket_path)
    try:
        unlocked = bool(client.status().get("unlocked"))
    except agent.AgentUnavailableError:
        agent.spawn(
            keys_dir, socket_path, demo_key_file=demo_key, detach=True, log_file=data_dir / "agent.log"
        )
        unlocked = True
    finally:
        client.close()
    if not unlocked:
        with agent.AgentClient(socket_path) as c:
            c.shutdown()
        agent.spawn(
            keys_dir, socket_path, demo_key_file=demo_key, detach=True, log_file=data_dir / "agent.log"
        )
    return keys_dir, socket_path


def run(*, persons: int, seed: int, serve: bool) -> int:
    os.environ["KARTOTEKA_DEMO"] = "1"
    data_dir = _data_dir()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    print(DEMO_BANNER, file=sys.stderr)
    keys_and_agent(data_dir)

    from kartoteka.cli import django_setup

    django_setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    _load_once(persons=persons, seed=seed)
    if serve:
        from kartoteka.core.server import serve as serve_http

        print("serving on http://127.0.0.1:8000  (Ctrl-C stops)", file=sys.stderr)
        serve_http(host="127.0.0.1", port=8000, workers=2)
    return 0


def _load_once(*, persons: int, seed: int) -> None:
    from tqdm import tqdm

    from kartoteka.accounts.models import User
    from kartoteka.demo.generate import demo_load, demo_loaded, demo_password

    if not demo_loaded():
        with tqdm(total=persons, desc="demo persons", unit="p", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            summary = demo_load(persons=persons, seed=seed, progress=progress)
        counts = ", ".join(
            f"{name}={getattr(summary, name)}"
            for name in ("persons", "records", "recruitments", "promises", "deliveries", "incidents", "cases")
        )
        print(f"loaded: {counts}", file=sys.stderr)
    password = demo_password(seed)
    print("demo logins (user / role / password) — each asks to set up a TOTP app at first login:")
    for user in User.objects.filter(username__startswith="demo-").order_by("username"):
        print(f"  {user.username:<22} {user.role:<12} {password}")
