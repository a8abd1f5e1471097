"""Command-line sessions: `kartoteka login --as USER` checks the password, then the key agent remembers
the login for a while so later commands can act as that user. Nothing is written to disk."""

from __future__ import annotations

from kartoteka.core import sealing


def open_for(username: str, *, minutes: int) -> None:
    sealing.client().call("cli_session_open", user=username, minutes=minutes)


def is_open(username: str) -> bool:
    return bool(sealing.client().call("cli_session_check", user=username))


def close_for(username: str) -> None:
    sealing.client().call("cli_session_close", user=username)
