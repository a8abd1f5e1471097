"""`python -m bench crypto`: per-operation costs of the secure core, so later issues can budget.

Prints each operation in process (the primitive alone) and through a real key agent (what services pay:
batching, transport and the agent's own work), with the ratio between them.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

from bench.util import per_item_us, row
from kartoteka.lib import agent, audit, crypto, keys, names

REFERENCE = Path(__file__).resolve().parent.parent / "kartoteka" / "data" / "reference"


def _names(n: int) -> list[str]:
    with (REFERENCE / "name-variants.csv").open(encoding="utf-8") as fh:
        base = [r["variant"] for r in csv.DictReader(fh)]
    return [base[i % len(base)] for i in range(n)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crypto")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    n = args.batch
    sample = _names(n)
    key = crypto.random_key()
    ctx = crypto.FieldContext("people.record", "0190e6b4-0000-7000-8000-000000000000", "full_name")
    plaintext = "Иванов Пётр Сергеевич".encode()

    print(f"secure core, per item (batches of {n}, best of 5)")
    print("in process:")
    enc = per_item_us(lambda: [crypto.field_encrypt(key, plaintext, ctx, key_version=1) for _ in range(n)], n)
    row("encrypt one field (AES-256-GCM)", enc, "µs")
    blob = crypto.field_encrypt(key, plaintext, ctx, key_version=1)
    row(
        "decrypt one field",
        per_item_us(lambda: [crypto.field_decrypt(key, blob, ctx) for _ in range(n)], n),
        "µs",
    )
    terms_us = per_item_us(lambda: [names.index_terms(s) for s in sample], n)
    row("name → index terms (names.index_terms)", terms_us, "µs")
    all_terms = [t for s in sample for t in names.index_terms(s)]
    per_term = per_item_us(lambda: [crypto.blind_index(key, t) for t in all_terms], len(all_terms))
    per_name = per_term * len(all_terms) / n
    row(
        "blind-index one name (terms + HMACs)",
        terms_us + per_name,
        "µs",
        f"{len(all_terms) / n:.1f} terms/name",
    )
    seed = crypto.random_key()
    msgs = [os.urandom(32) for _ in range(n)]
    sign_us = per_item_us(lambda: crypto.sign_many(seed, msgs), n)
    row("sign one audit entry (Ed25519, batched)", sign_us, "µs")

    with tempfile.TemporaryDirectory() as tmp:
        keys_dir, sock = Path(tmp) / "keys", Path(tmp) / "run" / "agent.sock"
        demo_key = Path(tmp) / "demo.key"
        keys.init(keys_dir, None, demo_key_file=demo_key)
        proc = agent.spawn(keys_dir, sock, demo_key_file=demo_key)
        try:
            with agent.AgentClient(sock) as client:
                print("through the key agent:")
                items = [
                    keys.PlainRecord("people.record", str(crypto.record_id_new()), {"full_name": plaintext})
                    for _ in range(n)
                ]
                seal_us = per_item_us(lambda: client.seal_records(items), n)
                row(
                    "seal a record (new data key + 1 field)",
                    seal_us,
                    "µs",
                    f"×{seal_us / enc:.1f} in-process",
                )
                sealed = client.seal_records(items)
                row("open a record", per_item_us(lambda: client.open_records(sealed), n), "µs")
                idx_us = per_item_us(
                    lambda: client.blind_index("people.record.name", all_terms), len(all_terms)
                )
                row("blind-index one name (agent HMACs)", terms_us + idx_us * len(all_terms) / n, "µs")
                agent_sign = per_item_us(lambda: client.sign(msgs), n)
                row("sign one audit entry", agent_sign, "µs", f"×{agent_sign / sign_us:.1f} in-process")
                entry_us = _audit_append_us(Path(tmp), client, n)
                row("append one audit entry (SQLite, batched)", entry_us, "µs")
        finally:
            agent.stop(sock)
            proc.wait(timeout=10)
    return 0


def _audit_append_us(tmp: Path, signer: audit.Signer, n: int) -> float:
    import sqlite3

    conn = sqlite3.connect(tmp / "audit.sqlite3", isolation_level=None)
    audit.schema_create(conn)
    drafts = [
        audit.Draft("system:bench", "person.create", "person", str(crypto.record_id_new())) for _ in range(n)
    ]

    def append() -> None:
        with audit.transaction(conn):
            audit.entries_append(conn, signer, drafts)

    return per_item_us(append, n)
