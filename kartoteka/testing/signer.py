"""A signer for tests: the seeds live in this process's memory. Never used outside tests.

Production signs through the key agent, which holds the audit key and implements the same
:class:`kartoteka.lib.audit.Signer` protocol.
"""

from __future__ import annotations

from kartoteka.lib import crypto


class LocalSigner:
    """Ed25519 signing with in-process seeds, one per key version; :meth:`rotate` adds a version."""

    def __init__(self, seeds: dict[int, bytes] | None = None) -> None:
        self._seeds = dict(seeds) if seeds else {1: crypto.random_key()}

    @property
    def version(self) -> int:
        return max(self._seeds)

    @property
    def seeds(self) -> dict[int, bytes]:
        """The seeds, so a test can hand the same signer to a worker process."""
        return dict(self._seeds)

    def rotate(self) -> int:
        self._seeds[self.version + 1] = crypto.random_key()
        return self.version

    def sign(self, messages: list[bytes]) -> tuple[int, list[bytes]]:
        version = self.version
        seed = self._seeds[version]
        return version, [crypto.sign(seed, m) for m in messages]

    def public_keys(self) -> dict[int, bytes]:
        return {v: crypto.signing_public_key(s) for v, s in self._seeds.items()}
