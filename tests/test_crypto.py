from __future__ import annotations

import pytest

from kartoteka.lib import crypto


def _ctx(record: str = "r1", field: str = "name") -> crypto.FieldContext:
    return crypto.FieldContext(table="person", record_id=record, field=field)


def test_it_round_trips_a_field() -> None:
    key = crypto.random_key()
    blob = crypto.field_encrypt(key, "Иванов".encode(), _ctx(), key_version=3)
    assert crypto.field_key_version(blob) == 3
    assert crypto.field_decrypt(key, blob, _ctx()).decode() == "Иванов"


@pytest.mark.parametrize(
    "moved", [_ctx(record="r2"), _ctx(field="alias"), crypto.FieldContext("incident", "r1", "name")]
)
def test_it_refuses_a_ciphertext_moved_elsewhere(moved: crypto.FieldContext) -> None:
    key = crypto.random_key()
    blob = crypto.field_encrypt(key, b"secret", _ctx(), key_version=1)
    with pytest.raises(crypto.IntegrityError, match="moved"):
        crypto.field_decrypt(key, blob, moved)


def test_it_refuses_a_relabelled_key_version() -> None:
    key = crypto.random_key()
    blob = bytearray(crypto.field_encrypt(key, b"secret", _ctx(), key_version=1))
    blob[4] = 2  # claim another key version
    with pytest.raises(crypto.IntegrityError):
        crypto.field_decrypt(key, bytes(blob), _ctx())


def test_it_refuses_every_flipped_byte() -> None:
    key = crypto.random_key()
    blob = crypto.field_encrypt(key, b"secret testimony", _ctx(), key_version=1)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(crypto.CryptoError):
            crypto.field_decrypt(key, bytes(bad), _ctx())


def test_it_refuses_the_wrong_key() -> None:
    blob = crypto.field_encrypt(crypto.random_key(), b"x", _ctx(), key_version=1)
    with pytest.raises(crypto.IntegrityError):
        crypto.field_decrypt(crypto.random_key(), blob, _ctx())


def test_it_binds_wrapped_keys_to_their_context() -> None:
    kek, dek = crypto.random_key(), crypto.random_key()
    wrapped = crypto.key_wrap(kek, dek, context=b"person:r1")
    assert crypto.key_unwrap(kek, wrapped, context=b"person:r1") == dek
    with pytest.raises(crypto.IntegrityError):
        crypto.key_unwrap(kek, wrapped, context=b"person:r2")


def test_it_derives_independent_keys_per_purpose() -> None:
    root = crypto.random_key()
    a = crypto.derive_key(root, "blind-index/person.name")
    b = crypto.derive_key(root, "blind-index/source.contact")
    assert a != b
    assert a == crypto.derive_key(root, "blind-index/person.name")


def test_it_gives_equal_blind_indexes_only_under_the_same_key() -> None:
    k1, k2 = crypto.random_key(), crypto.random_key()
    assert crypto.blind_index(k1, "ivanov") == crypto.blind_index(k1, "ivanov")
    assert crypto.blind_index(k1, "ivanov") != crypto.blind_index(k2, "ivanov")
    assert -(2**63) <= crypto.blind_index(k1, "ivanov") < 2**63


def test_it_verifies_signatures_and_rejects_edits() -> None:
    seed = crypto.random_key()
    sig = crypto.sign(seed, b"entry 1")
    public = crypto.signing_public_key(seed)
    crypto.signature_verify(public, b"entry 1", sig)
    with pytest.raises(crypto.IntegrityError):
        crypto.signature_verify(public, b"entry 2", sig)


def test_it_seals_to_a_recipient_that_only_the_identity_opens() -> None:
    ident, other = crypto.identity_new(), crypto.identity_new()
    sealed = crypto.seal(b"submission", [ident.recipient])
    assert crypto.unseal(sealed, ident.secret) == b"submission"
    with pytest.raises(crypto.IntegrityError):
        crypto.unseal(sealed, other.secret)


def test_it_makes_time_ordered_random_ids() -> None:
    ids = [crypto.record_id_new() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.version == 7 for i in ids)
    assert sorted(i.bytes[:6] for i in ids) == [i.bytes[:6] for i in ids]
