"""Key slots, recovery, the keyring, per-record data keys and rotation (in process and through the agent)."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from kartoteka.lib import agent, crypto, keys

PASS = "correct horse battery staple"
# Cheap Argon2id so the suite stays fast; the cost itself is crypto's concern (tested there).
FAST = crypto.PassphraseParams(salt=b"\0" * 16, iterations=1, memory_kib=8 * 1024, lanes=1)
DEK_HEADER_BYTES = 5  # keys._DEK_HEADER: format byte + version


def _fast() -> crypto.PassphraseParams:
    return crypto.PassphraseParams.new(
        iterations=FAST.iterations, memory_kib=FAST.memory_kib, lanes=FAST.lanes
    )


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def initialised(keys_dir: Path) -> keys.InitResult:
    return keys.init(keys_dir, PASS, params=_fast())


def _session(keys_dir: Path, passphrase: str = PASS) -> keys.KeySession:
    return keys.KeySession(keys_dir, keys.master_key_from_passphrase(keys_dir, passphrase))


def _root(keys_dir: Path, master_key: bytes, version: int) -> bytes:
    ring = json.loads((keys_dir / keys.KEYRING_FILE).read_text())
    (entry,) = [v for v in ring["versions"] if v["version"] == version]
    return crypto.key_unwrap(
        master_key, base64.b64decode(entry["wrapped_root"]), context=f"keyring:v{version}".encode()
    )


# --- slots ------------------------------------------------------------------------------------------------


def test_it_unlocks_with_any_passphrase_slot(keys_dir: Path, initialised: keys.InitResult) -> None:
    with_first = keys.master_key_from_passphrase(keys_dir, PASS)
    keys.slot_add(keys_dir, with_first, "a second administrator's phrase", params=_fast())
    with_second = keys.master_key_from_passphrase(keys_dir, "a second administrator's phrase")
    assert with_first == with_second
    assert [s.kind for s in keys.slots_list(keys_dir)] == ["passphrase", "passphrase", "recovery"]


def test_it_refuses_a_wrong_passphrase(keys_dir: Path, initialised: keys.InitResult) -> None:
    with pytest.raises(keys.UnlockError):
        keys.master_key_from_passphrase(keys_dir, PASS + " ")
    with pytest.raises(keys.UnlockError):
        keys.master_key_from_passphrase(keys_dir, "")


def test_it_refuses_a_revoked_passphrase(keys_dir: Path, initialised: keys.InitResult) -> None:
    mk = keys.master_key_from_passphrase(keys_dir, PASS)
    second = keys.slot_add(keys_dir, mk, "a phrase that will be revoked", params=_fast())
    keys.slot_revoke(keys_dir, second)
    with pytest.raises(keys.UnlockError):
        keys.master_key_from_passphrase(keys_dir, "a phrase that will be revoked")
    assert keys.master_key_from_passphrase(keys_dir, PASS) == mk


def test_it_guards_the_last_passphrase_slot_and_the_recovery_slot(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    assert initialised.slot_id is not None
    with pytest.raises(keys.SlotError):
        keys.slot_revoke(keys_dir, initialised.slot_id)
    with pytest.raises(keys.SlotError):
        keys.slot_revoke(keys_dir, keys.RECOVERY_SLOT_ID, allow_last=True)
    with pytest.raises(keys.SlotError):
        keys.slot_revoke(keys_dir, "p-00000000")
    keys.slot_revoke(keys_dir, initialised.slot_id, allow_last=True)
    with pytest.raises(keys.UnlockError):
        keys.master_key_from_passphrase(keys_dir, PASS)


def test_it_refuses_short_passphrases_and_a_second_init(keys_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(keys.WeakPassphraseError):
        keys.init(keys_dir, "short", params=_fast())
    keys.init(keys_dir, PASS, params=_fast())
    with pytest.raises(keys.AlreadyInitialisedError):
        keys.init(keys_dir, PASS, params=_fast())


# --- recovery ---------------------------------------------------------------------------------------------


def test_it_recovers_after_every_passphrase_slot_is_removed(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    mk = keys.master_key_from_passphrase(keys_dir, PASS)
    assert initialised.slot_id is not None
    keys.slot_revoke(keys_dir, initialised.slot_id, allow_last=True)
    recovered = keys.master_key_from_recovery(keys_dir, initialised.recovery_secret)
    assert recovered == mk
    keys.slot_add(keys_dir, recovered, "a brand new passphrase", params=_fast())
    assert keys.master_key_from_passphrase(keys_dir, "a brand new passphrase") == mk


def test_it_accepts_the_recovery_secret_in_either_form(keys_dir: Path, initialised: keys.InitResult) -> None:
    secret = initialised.recovery_secret
    grouped = keys.recovery_secret_grouped(secret)
    assert "\n" in grouped
    assert all(len(g) <= 4 for g in grouped.splitlines()[1].split())
    body_only = grouped.split("\n", 1)[1]
    mk = keys.master_key_from_recovery(keys_dir, secret)
    for form in (grouped, grouped.lower(), body_only, "-".join(body_only.split()), f"  {secret}\n"):
        assert keys.master_key_from_recovery(keys_dir, form) == mk


def test_it_refuses_a_mistyped_or_foreign_recovery_secret(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    secret = initialised.recovery_secret
    i = len(keys.RECOVERY_PREFIX) + 10
    typo = secret[:i] + ("Q" if secret[i] != "Q" else "P") + secret[i + 1 :]
    with pytest.raises(crypto.MalformedError):  # the bech32 checksum catches it before any decryption
        keys.master_key_from_recovery(keys_dir, typo)
    with pytest.raises(keys.UnlockError):
        keys.master_key_from_recovery(keys_dir, crypto.identity_new().secret)


def test_it_keeps_only_wrapped_and_public_keys_in_owner_only_files(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    mk = bytes(keys.master_key_from_passphrase(keys_dir, PASS))
    root = _root(keys_dir, mk, 1)
    secrets_ = [
        mk,
        root,
        crypto.derive_key(root, "field-kek"),
        initialised.recovery_secret.encode(),
        PASS.encode(),
    ]
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for name in (keys.SLOTS_FILE, keys.KEYRING_FILE):
        path = keys_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        for s in secrets_:
            assert s not in data
            assert s.hex().encode() not in data.lower()
    assert initialised.recovery_recipient.encode() in (keys_dir / keys.SLOTS_FILE).read_bytes()
    assert sorted(p.name for p in keys_dir.iterdir()) == [keys.KEYRING_FILE, keys.SLOTS_FILE]


# --- records ----------------------------------------------------------------------------------------------


def test_it_gives_each_record_its_own_data_key_bound_to_the_record(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    session = _session(keys_dir)
    a, b = session.seal_records(
        [
            keys.PlainRecord("person", "r1", {"name": b"Ivanov"}),
            keys.PlainRecord("person", "r2", {"name": b"Ivanov"}),
        ]
    )
    assert a.wrapped_dek != b.wrapped_dek
    assert a.fields["name"] != b.fields["name"]
    assert session.open_records([a, b]) == [{"name": b"Ivanov"}, {"name": b"Ivanov"}]
    moved = keys.SealedRecord("person", "r2", a.wrapped_dek, a.fields)
    with pytest.raises(crypto.IntegrityError):
        session.open_records([moved])
    swapped = keys.SealedRecord("person", "r1", a.wrapped_dek, {"name": b.fields["name"]})
    with pytest.raises(crypto.IntegrityError):
        session.open_records([swapped])


def test_it_seals_a_flat_record_list_as_it_seals_record_objects(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    """The bulk import's wire layout: each record gets its own data key, the reply keeps the request's
    order, and what it seals opens as a record of its own table and id, nowhere else."""
    session = _session(keys_dir)
    flat = [b"person", b"r1", b"name", b"Ivanov", b"born", b"1980", b"person", b"r2", b"person", b"r3"]
    flat += [b"name", b"Ivanov"]
    out = session.seal_records_flat([2, 0, 1], flat)
    assert len(out) == 3 + 3 and len({out[0], out[3], out[4]}) == 3  # three distinct wrapped keys
    r1 = keys.SealedRecord("person", "r1", out[0], {"name": out[1], "born": out[2]})
    r2 = keys.SealedRecord("person", "r2", out[3], {})
    r3 = keys.SealedRecord("person", "r3", out[4], {"name": out[5]})
    assert session.open_records([r1, r2, r3]) == [
        {"name": b"Ivanov", "born": b"1980"},
        {},
        {"name": b"Ivanov"},
    ]
    with pytest.raises(crypto.IntegrityError):
        session.open_records([keys.SealedRecord("person", "r3", out[0], {"name": out[1]})])
    with pytest.raises(crypto.IntegrityError):
        session.open_records([keys.SealedRecord("person", "r1", out[0], {"born": out[1]})])
    with pytest.raises(keys.KeysError, match="lower-case"):
        session.seal_records_flat([1], [b"person", b"r1", b"Name", b"x"])
    with pytest.raises(keys.KeysError, match="malformed"):
        session.seal_records_flat([2], [b"person", b"r1", b"name", b"x"])


def test_it_shreds_a_record_when_its_wrapped_data_key_is_deleted(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    session = _session(keys_dir)
    mk = keys.master_key_from_passphrase(keys_dir, PASS)
    victim, other = session.seal_records(
        [keys.PlainRecord("person", "r1", {"name": b"secret"}), keys.PlainRecord("person", "r2", {"x": b"y"})]
    )
    root = _root(keys_dir, bytes(mk), 1)
    # Every key that survives the deletion of victim.wrapped_dek, and none opens its field.
    survivors = [bytes(mk), root, crypto.derive_key(root, "field-kek"), crypto.derive_key(root, "audit-sign")]
    survivors.append(
        crypto.key_unwrap(
            crypto.derive_key(root, "field-kek"), other.wrapped_dek[DEK_HEADER_BYTES:], context=b"person:r2"
        )
    )
    ctx = crypto.FieldContext("person", "r1", "name")
    for key in survivors:
        with pytest.raises(crypto.IntegrityError):
            crypto.field_decrypt(key, victim.fields["name"], ctx)


def test_it_signs_with_a_key_whose_public_half_is_in_the_clear(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    session = _session(keys_dir)
    version, sigs = session.sign([b"entry-1", b"entry-2"])
    public = keys.audit_public_keys(keys_dir)[version]
    crypto.signature_verify(public, b"entry-2", sigs[1])
    with pytest.raises(crypto.IntegrityError):
        crypto.signature_verify(public, b"entry-1", sigs[1])


def test_it_keys_blind_indexes_per_field_and_refuses_other_purposes(
    keys_dir: Path, initialised: keys.InitResult
) -> None:
    session = _session(keys_dir)
    (name,) = session.blind_index("person.surname", ["ivanov"])
    (alias,) = session.blind_index("person.alias", ["ivanov"])
    assert name != alias
    assert session.blind_index("person.surname", ["ivanov"]) == [name]
    for purpose in ("field-kek", "audit-sign", "person", "Person.Name", "person.name/x"):
        with pytest.raises(keys.KeysError):
            session.blind_index(purpose, ["ivanov"])


def test_it_wipes_keys_on_close(keys_dir: Path, initialised: keys.InitResult) -> None:
    session = _session(keys_dir)
    session.seal_records([keys.PlainRecord("person", "r1", {"name": b"x"})])
    buffers = [session._mk, *session._roots.values(), *session._derived.values()]
    session.close()
    assert all(not any(b) for b in buffers)
    with pytest.raises(keys.KeysError):
        session.seal_records([keys.PlainRecord("person", "r1", {"name": b"x"})])


# --- rotation with a real SQLite store ----------------------------------------------------------------------


class SqliteStore:
    """An EncryptedStore over SQLite: the shape the Django layer will implement over PostgreSQL."""

    FIELDS = ("surname", "given", "note")

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(
            "CREATE TABLE person (id TEXT PRIMARY KEY, wrapped_dek BLOB,"
            " surname BLOB, given BLOB, note BLOB);"
            "CREATE TABLE person_index (person_id TEXT, field TEXT, value INTEGER);"
        )
        self.fail_after_batches: int | None = None
        self.writes = 0

    def insert(self, ops: keys.KeyOperations, plain: Sequence[keys.PlainRecord]) -> None:
        sealed = ops.seal_records(plain)
        with self.db:
            for s in sealed:
                self.db.execute(
                    "INSERT INTO person VALUES (?, ?, ?, ?, ?)",
                    (s.record_id, s.wrapped_dek, *(s.fields[f] for f in self.FIELDS)),
                )
            for field in ("surname", "given"):
                terms = [self.blind_index_terms("person", field, p.fields[field]) for p in plain]
                flat = ops.blind_index(f"person.{field}", [t for ts in terms for t in ts])
                it = iter(flat)
                for p, ts in zip(plain, terms, strict=True):
                    for _ in ts:
                        self.db.execute(
                            "INSERT INTO person_index VALUES (?, ?, ?)", (p.record_id, field, next(it))
                        )

    def batches(self, batch_size: int) -> Iterator[Sequence[keys.SealedRecord]]:
        last = ""
        while True:
            rows = self.db.execute(
                "SELECT id, wrapped_dek, surname, given, note FROM person WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            yield [
                keys.SealedRecord("person", r[0], r[1], dict(zip(self.FIELDS, r[2:], strict=True)))
                for r in rows
            ]
            last = rows[-1][0]

    def blind_index_fields(self) -> Mapping[str, Sequence[str]]:
        return {"person": ("surname", "given")}

    def blind_index_purpose(self, table: str, field: str) -> str:
        return f"{table}.{field}"

    def blind_index_terms(self, table: str, field: str, plaintext: bytes) -> Sequence[str]:
        return plaintext.decode().casefold().split()

    def write_back(self, updates: Sequence[keys.RecordUpdate]) -> None:
        if self.fail_after_batches is not None and self.writes >= self.fail_after_batches:
            raise RuntimeError("simulated crash during rotation")
        with self.db:
            for u in updates:
                self.db.execute(
                    "UPDATE person SET wrapped_dek = ? WHERE id = ?", (u.wrapped_dek, u.record_id)
                )
                if u.fields is not None:
                    for f in self.FIELDS:
                        self.db.execute(f"UPDATE person SET {f} = ? WHERE id = ?", (u.fields[f], u.record_id))
                for field, values in u.blind_indexes.items():
                    self.db.execute(
                        "DELETE FROM person_index WHERE person_id = ? AND field = ?", (u.record_id, field)
                    )
                    self.db.executemany(
                        "INSERT INTO person_index VALUES (?, ?, ?)", [(u.record_id, field, v) for v in values]
                    )
        self.writes += 1

    def find(self, field: str, value: int) -> list[str]:
        rows = self.db.execute(
            "SELECT person_id FROM person_index WHERE field = ? AND value = ?", (field, value)
        )
        return sorted(r[0] for r in rows)

    def all(self) -> list[keys.SealedRecord]:
        return [r for b in self.batches(1000) for r in b]


def _people(n: int) -> list[keys.PlainRecord]:
    return [
        keys.PlainRecord(
            "person",
            str(crypto.record_id_new()),
            {
                "surname": f"Ivanov-{i} {secrets.token_hex(4)}".encode(),
                "given": f"Pyotr {i}".encode(),
                "note": secrets.token_bytes(40),
            },
        )
        for i in range(n)
    ]


def _rotation_check(
    keys_dir: Path, initialised: keys.InitResult, ops: keys.KeyOperations, tmp_path: Path, *, reencrypt: bool
) -> None:
    store = SqliteStore(tmp_path / "data.sqlite3")
    people = _people(130)
    store.insert(ops, people)
    mk = bytes(keys.master_key_from_recovery(keys_dir, initialised.recovery_secret))
    old_root = _root(keys_dir, mk, 1)
    old_kek = crypto.derive_key(old_root, "field-kek")
    before = {r.record_id: r for r in store.all()}
    old_deks = {
        rid: crypto.key_unwrap(old_kek, r.wrapped_dek[DEK_HEADER_BYTES:], context=f"person:{rid}".encode())
        for rid, r in before.items()
    }
    old_index = ops.blind_index("person.surname", ["ivanov-7"])[0]

    report = keys.rotate(ops, store, reencrypt=reencrypt, batch_size=50)

    assert (report.version, report.records_done, report.dropped_versions) == (2, 130, (1,))
    assert keys.keyring_versions(keys_dir) == (2, (2,))
    assert set(keys.audit_public_keys(keys_dir)) == {1, 2}  # old audit entries still verify
    after = store.all()
    assert ops.open_records(after) == [p.fields for p in sorted(people, key=lambda p: p.record_id)]
    for rec in after:
        assert keys.dek_key_version(rec.wrapped_dek) == 2
        with pytest.raises(crypto.IntegrityError):
            crypto.key_unwrap(
                old_kek, rec.wrapped_dek[DEK_HEADER_BYTES:], context=f"person:{rec.record_id}".encode()
            )
        for field, blob in rec.fields.items():
            if reencrypt:
                assert crypto.field_key_version(blob) == 2
                with pytest.raises(crypto.IntegrityError):
                    crypto.field_decrypt(
                        old_deks[rec.record_id], blob, crypto.FieldContext("person", rec.record_id, field)
                    )
            else:
                assert blob == before[rec.record_id].fields[field]
    new_index = ops.blind_index("person.surname", ["ivanov-7"])[0]
    assert new_index != old_index
    assert store.find("surname", new_index) == [people[7].record_id]
    assert store.find("surname", old_index) == []
    with pytest.raises(keys.KeyVersionError):
        ops.blind_index("person.surname", ["ivanov-7"], version=1)


def test_it_rotates_by_rewrapping_and_destroys_the_old_root(
    keys_dir: Path, initialised: keys.InitResult, tmp_path: Path
) -> None:
    _rotation_check(keys_dir, initialised, _session(keys_dir), tmp_path, reencrypt=False)


def test_it_rotates_with_reencryption_and_destroys_the_old_root(
    keys_dir: Path, initialised: keys.InitResult, tmp_path: Path
) -> None:
    _rotation_check(keys_dir, initialised, _session(keys_dir), tmp_path, reencrypt=True)


def test_it_rotates_with_reencryption_through_the_agent(
    keys_dir: Path, initialised: keys.InitResult, tmp_path: Path
) -> None:
    sock = tmp_path / "run" / "agent.sock"
    proc = agent.spawn(keys_dir, sock)
    try:
        with agent.AgentClient(sock) as client:
            client.unlock(PASS)
            _rotation_check(keys_dir, initialised, client, tmp_path, reencrypt=True)
            client.shutdown()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_it_resumes_an_interrupted_rotation(
    keys_dir: Path, initialised: keys.InitResult, tmp_path: Path
) -> None:
    session = _session(keys_dir)
    store = SqliteStore(tmp_path / "data.sqlite3")
    people = _people(120)
    store.insert(session, people)
    store.fail_after_batches = 1
    with pytest.raises(RuntimeError):
        keys.rotate(session, store, reencrypt=True, batch_size=50)
    assert keys.keyring_versions(keys_dir) == (2, (1, 2))  # both roots live: nothing lost mid-way
    versions = sorted(keys.dek_key_version(r.wrapped_dek) for r in store.all())
    assert versions == [1] * 70 + [2] * 50
    store.fail_after_batches = None
    report = keys.rotate(session, store, reencrypt=True, batch_size=50)
    assert (report.version, report.resumed, report.records_done, report.dropped_versions) == (
        2,
        True,
        70,
        (1,),
    )
    assert session.open_records(store.all()) == [p.fields for p in sorted(people, key=lambda p: p.record_id)]


class LateWriterStore(SqliteStore):
    """Hides some records from the first pass, as if a worker sealed them before the rotation began and
    committed them after the pass went by."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.hidden: set[str] = set()
        self.passes = 0

    def batches(self, batch_size: int) -> Iterator[Sequence[keys.SealedRecord]]:
        self.passes += 1
        hide = self.hidden if self.passes == 1 else set()
        for batch in super().batches(batch_size):
            yield [r for r in batch if r.record_id not in hide]


def test_it_keeps_an_old_root_while_a_record_still_uses_it(
    keys_dir: Path, initialised: keys.InitResult, tmp_path: Path
) -> None:
    session = _session(keys_dir)
    store = LateWriterStore(tmp_path / "data.sqlite3")
    people = _people(10)
    store.insert(session, people)
    store.hidden = {people[3].record_id}
    report = keys.rotate(session, store, batch_size=4)
    assert (report.records_done, report.dropped_versions, report.still_in_use) == (9, (), (1,))
    assert keys.keyring_versions(keys_dir) == (2, (1, 2))
    assert session.open_records(store.all()) == [p.fields for p in sorted(people, key=lambda p: p.record_id)]
    store.passes = 0
    store.hidden = set()
    report = keys.rotate(session, store, batch_size=4)
    assert (report.resumed, report.records_done, report.dropped_versions, report.still_in_use) == (
        True,
        1,
        (1,),
        (),
    )
    assert keys.keyring_versions(keys_dir) == (2, (2,))
