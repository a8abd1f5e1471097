"""Codenames in the manner of SecureDrop: random words from a list we ship (ours: common, concrete,
easily typed nouns, written for Kartoteka; ``wordlists/ru.txt`` and ``wordlists/en.txt``)."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path

WORDS = 7
_DIR = Path(__file__).resolve().parent / "wordlists"
LANGS = ("ru", "en")


@cache
def wordlist(lang: str) -> tuple[str, ...]:
    if lang not in LANGS:
        raise ValueError("no word list for this language")
    words = tuple(w for w in (_DIR / f"{lang}.txt").read_text(encoding="utf-8").split() if w)
    if len(set(words)) != len(words) or len(words) < 1000:
        raise ValueError("a codename word list must hold at least 1000 distinct words")
    return words


def codename_new(lang: str, *, words: int = WORDS) -> str:
    """Seven words from about a thousand: about 70 bits, before the Argon2id stretch."""
    pool = wordlist(lang)
    return " ".join(secrets.choice(pool) for _ in range(words))
