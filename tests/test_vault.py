"""The evidence vault against a real key agent: round trips, tampering of every kind, custody, disk hygiene."""

from __future__ import annotations

import fcntl
import io
import itertools
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kartoteka.lib import agent, crypto, keys, vault
from kartoteka.testing import canary

SMALL = 4096  # chunk size for tests, so a few kilobytes make several chunks


@pytest.fixture
def ops(agent_ready: Path) -> Iterator[agent.AgentClient]:
    with agent.AgentClient(agent_ready) as client:
        yield client


def _ingest(root: Path, ops: vault.VaultKeyOperations, data: bytes) -> vault.Manifest:
    return vault.vault_ingest(root, ops, io.BytesIO(data), actor="user:1", chunk_bytes=SMALL)


def _item(root: Path, item_id: str) -> Path:
    return root / "items" / item_id[-2:] / item_id


def _sealed(root: Path, m: vault.Manifest) -> list[bytes]:
    raw = (_item(root, m.item_id) / vault.CHUNKS_FILE).read_bytes()
    return [raw[m.sealed_offset(i) : m.sealed_offset(i) + m.sealed_length(i)] for i in range(m.chunk_count)]


def _store(root: Path, m: vault.Manifest, blobs: list[bytes], *, size: int | None = None) -> None:
    """Rewrite an item's chunks and a manifest that matches them, as an attacker with disk access could,
    so only the authenticated encryption stands between them and a successful read."""
    d = _item(root, m.item_id)
    (d / vault.CHUNKS_FILE).write_bytes(b"".join(blobs))
    obj = json.loads((d / vault.MANIFEST_FILE).read_bytes())
    obj["chunk_sha256"] = [crypto.digest(b).hex() for b in blobs]
    obj["chunk_count"] = len(blobs)
    if size is not None:
        obj["size"] = size
    (d / vault.MANIFEST_FILE).write_text(json.dumps(obj))


def _read(root: Path, ops: vault.VaultKeyOperations, item_id: str) -> bytes:
    return b"".join(vault.vault_read(root, ops, item_id, actor="user:2"))


@pytest.mark.parametrize("size", [0, 1, SMALL, SMALL + 1, 5 * SMALL + 123])
def test_it_round_trips_files_of_every_shape(tmp_path: Path, ops: agent.AgentClient, size: int) -> None:
    data = os.urandom(size)
    m = _ingest(tmp_path, ops, data)
    assert (m.size, m.chunk_count) == (size, max(1, -(-size // SMALL)))
    assert m.sha256 == crypto.digest(data).hex()
    assert _read(tmp_path, ops, m.item_id) == data
    out = io.BytesIO()
    assert vault.vault_export(tmp_path, ops, m.item_id, out, actor="user:2") == size
    assert out.getvalue() == data
    report = vault.vault_verify(tmp_path, m.item_id, ops)
    assert report.ok and report.decrypted and report.chunks_checked == m.chunk_count


def test_it_reports_a_flipped_byte_in_verify_and_on_every_read(
    tmp_path: Path, ops: agent.AgentClient
) -> None:
    m = _ingest(tmp_path, ops, os.urandom(4 * SMALL))
    path = _item(tmp_path, m.item_id) / vault.CHUNKS_FILE
    raw = bytearray(path.read_bytes())
    raw[m.sealed_offset(2) + 100] ^= 0x01
    path.write_bytes(bytes(raw))

    keyless = vault.vault_verify(tmp_path, m.item_id)
    assert not keyless.ok and keyless.first_bad_chunk == 2 and keyless.chunks_checked == 2
    keyed = vault.vault_verify(tmp_path, m.item_id, ops)
    assert not keyed.ok and keyed.first_bad_chunk == 2
    with pytest.raises(vault.VaultIntegrityError) as caught:
        _read(tmp_path, ops, m.item_id)
    assert caught.value.chunk == 2

    # The attacker also fixes the manifest's hash: authentication still catches it, and names the chunk.
    _store(tmp_path, m, _sealed(tmp_path, m))
    with pytest.raises(vault.VaultIntegrityError) as caught:
        _read(tmp_path, ops, m.item_id)
    assert caught.value.chunk == 2 and "authentication" in str(caught.value)


def test_it_refuses_reordered_chunks(tmp_path: Path, ops: agent.AgentClient) -> None:
    m = _ingest(tmp_path, ops, os.urandom(3 * SMALL))
    blobs = _sealed(tmp_path, m)
    _store(tmp_path, m, [blobs[1], blobs[0], blobs[2]])
    with pytest.raises(vault.VaultIntegrityError) as caught:
        _read(tmp_path, ops, m.item_id)
    assert caught.value.chunk == 0
    # verify also notices that the manifest is not the one recorded when the item was received
    report = vault.vault_verify(tmp_path, m.item_id, ops)
    assert not report.ok and report.problem is not None and "manifest" in report.problem


def test_it_refuses_a_truncated_item(tmp_path: Path, ops: agent.AgentClient) -> None:
    m = _ingest(tmp_path, ops, os.urandom(3 * SMALL))
    _store(tmp_path, m, _sealed(tmp_path, m)[:2], size=2 * SMALL)
    with pytest.raises(vault.VaultIntegrityError) as caught:
        _read(tmp_path, ops, m.item_id)
    assert caught.value.chunk == 1  # sealed as "not final", now asked to be the last


def test_it_refuses_a_chunk_swapped_in_from_another_item(tmp_path: Path, ops: agent.AgentClient) -> None:
    a = _ingest(tmp_path, ops, os.urandom(2 * SMALL))
    b = _ingest(tmp_path, ops, os.urandom(2 * SMALL))
    blobs = _sealed(tmp_path, a)
    blobs[0] = _sealed(tmp_path, b)[0]
    _store(tmp_path, a, blobs)
    with pytest.raises(vault.VaultIntegrityError) as caught:
        _read(tmp_path, ops, a.item_id)
    assert caught.value.chunk == 0
    # Another item's wrapped key does not open this item either.
    with pytest.raises(crypto.IntegrityError):
        ops.vault_open_chunks(a.item_id, b.wrapped_key, 0, _sealed(tmp_path, b)[:1], last_index=1)


def test_it_keeps_a_hash_linked_custody_log_without_content(tmp_path: Path, ops: agent.AgentClient) -> None:
    marker = secrets.token_hex(16).encode()
    m = _ingest(tmp_path, ops, marker * 300)
    _read(tmp_path, ops, m.item_id)
    b"".join(vault.vault_read(tmp_path, ops, m.item_id, actor="user:3", action="viewed"))
    vault.custody_append(tmp_path, m.item_id, "copy_made", "user:3")
    entries = vault.custody_read(tmp_path, m.item_id)
    assert [e.action for e in entries] == ["received", "opened", "viewed", "copy_made"]
    assert [e.actor for e in entries] == ["user:1", "user:2", "user:3", "user:3"]
    assert entries[0].prev == vault.GENESIS and entries[0].manifest == m.digest()
    assert all(later.prev == earlier.line_hash for earlier, later in itertools.pairwise(entries))
    assert all(e.at.endswith("+00:00") for e in entries)
    assert vault.custody_verify(tmp_path, m.item_id) is None
    log = _item(tmp_path, m.item_id) / vault.CUSTODY_FILE
    assert marker not in log.read_bytes()

    lines = log.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"user:2", b"user:9")
    log.write_bytes(b"".join(lines))
    assert vault.custody_verify(tmp_path, m.item_id) == 2  # line 1's hash no longer matches line 2's prev
    report = vault.vault_verify(tmp_path, m.item_id)
    assert not report.ok and report.problem is not None and "custody" in report.problem
    with pytest.raises(vault.CustodyError):
        vault.custody_append(tmp_path, m.item_id, "deleted", "user:1")


def test_it_writes_owner_only_files_and_leaves_no_partial_item(
    tmp_path: Path, ops: agent.AgentClient
) -> None:
    m = _ingest(tmp_path, ops, os.urandom(3 * SMALL))
    for p in [tmp_path, *tmp_path.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), p

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 3:
                raise OSError("source went away")
            return b"x" * n

    with pytest.raises(OSError, match="source went away"):
        vault.vault_ingest(tmp_path, ops, Broken(), actor="user:1", chunk_bytes=SMALL)  # type: ignore[arg-type]
    assert list(vault.vault_items(tmp_path)) == [m.item_id]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_it_refuses_item_ids_that_are_not_uuids(tmp_path: Path, ops: agent.AgentClient) -> None:
    for bad in ("../../etc/passwd", "", "x" * 40):
        with pytest.raises(vault.ItemNotFoundError):
            vault.manifest_load(tmp_path, bad)


def test_it_leaves_no_plaintext_anywhere_after_a_10mb_ingest(
    tmp_path: Path, ops: agent.AgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private $TMPDIR: other processes writing to the shared /tmp cannot make this test pass or fail.
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    markers = [secrets.token_hex(16) for _ in range(3)]
    body = bytearray(os.urandom(10 * 1024 * 1024))
    for i, marker in enumerate(markers):  # at the start, across a chunk boundary, at the end
        at = (0, vault.CHUNK_BYTES * 3 - 10, len(body) - 32)[i]
        body[at : at + 32] = marker.encode()
    m = vault.vault_ingest(tmp_path / "vault", ops, io.BytesIO(bytes(body)), actor="user:1")
    assert m.sha256 == crypto.digest(bytes(body)).hex() and m.chunk_count == 10
    assert tempfile.gettempdir() == str(private_tmp) and list(private_tmp.iterdir()) == []
    canary.assert_clean(markers, [tmp_path / "vault"])


class _Spy:
    """The agent client, counting which ingest path the vault took."""

    def __init__(self, client: agent.AgentClient) -> None:
        self.client = client
        self.fd_calls = 0

    def vault_seal_chunks(self, *args: object, **kwargs: object) -> tuple[bytes, list[bytes]]:
        return self.client.vault_seal_chunks(*args, **kwargs)  # type: ignore[arg-type]

    def vault_open_chunks(self, *args: object, **kwargs: object) -> list[bytes]:
        return self.client.vault_open_chunks(*args, **kwargs)  # type: ignore[arg-type]

    def vault_ingest_fds(
        self, item_id: str, source_fd: int, dest_fd: int, *, chunk_bytes: int
    ) -> tuple[bytes, vault.SealedStream]:
        self.fd_calls += 1
        return self.client.vault_ingest_fds(item_id, source_fd, dest_fd, chunk_bytes=chunk_bytes)


BATCH = vault.STREAM_BATCH_BYTES  # one streaming step: files around it cross the look-ahead at the end


@pytest.mark.parametrize("size", [0, 1, SMALL + 1, BATCH - 3, BATCH, BATCH + 3, 2 * BATCH + SMALL])
def test_it_has_the_agent_seal_a_real_file_from_its_descriptor(
    tmp_path: Path, ops: agent.AgentClient, size: int
) -> None:
    data = os.urandom(size + 3)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    spy = _Spy(ops)
    with path.open("rb") as fh:
        assert fh.read(3) == data[:3]  # the buffered reader has read ahead: the vault must start at 3
        m = vault.vault_ingest(tmp_path / "vault", spy, fh, actor="user:1", chunk_bytes=SMALL)
        assert fh.tell() == len(data)
    assert spy.fd_calls == 1
    assert (m.size, m.chunk_count) == (size, max(1, -(-size // SMALL)))
    assert m.sha256 == crypto.digest(data[3:]).hex()
    sealed = _sealed(tmp_path / "vault", m)
    assert [crypto.digest(b).hex() for b in sealed] == list(m.chunk_sha256)
    assert _read(tmp_path / "vault", ops, m.item_id) == data[3:]
    report = vault.vault_verify(tmp_path / "vault", m.item_id, ops)
    assert report.ok and report.decrypted and report.chunks_checked == m.chunk_count
    assert [e.action for e in vault.custody_read(tmp_path / "vault", m.item_id)] == ["received", "opened"]


def test_it_seals_the_same_format_by_descriptor_as_through_the_socket(
    tmp_path: Path, ops: agent.AgentClient
) -> None:
    data = os.urandom(5 * SMALL + 7)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    with path.open("rb") as fh:
        by_fd = vault.vault_ingest(tmp_path / "vault", ops, fh, actor="user:1", chunk_bytes=SMALL)
    by_socket = _ingest(tmp_path / "vault", ops, data)
    assert (by_fd.size, by_fd.chunk_count, by_fd.sha256, by_fd.sealed_size) == (
        by_socket.size,
        by_socket.chunk_count,
        by_socket.sha256,
        by_socket.sealed_size,
    )
    # A chunk of one moved into the other fails: the item id is bound into every chunk either way.
    swapped = _sealed(tmp_path / "vault", by_socket)
    swapped[1] = _sealed(tmp_path / "vault", by_fd)[1]
    _store(tmp_path / "vault", by_socket, swapped)
    with pytest.raises(vault.VaultIntegrityError) as caught:
        _read(tmp_path / "vault", ops, by_socket.item_id)
    assert caught.value.chunk == 1


def test_it_refuses_descriptors_the_agent_must_not_read_or_write(
    tmp_path: Path, ops: agent.AgentClient
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"evidence")
    used = tmp_path / "used.bin"
    used.write_bytes(b"do not overwrite")
    item = str(crypto.record_id_new())
    read_fd = os.open(source, os.O_RDONLY)
    cases = {
        "destination not empty": (read_fd, os.open(used, os.O_WRONLY)),
        "destination read-only": (read_fd, os.open(tmp_path / "new.bin", os.O_RDONLY | os.O_CREAT, 0o600)),
        "source write-only": (
            os.open(source, os.O_WRONLY),
            os.open(tmp_path / "d1", os.O_WRONLY | os.O_CREAT),
        ),
    }
    pipe_r, pipe_w = os.pipe()
    cases["source a pipe"] = (pipe_r, os.open(tmp_path / "d2", os.O_WRONLY | os.O_CREAT, 0o600))
    try:
        for label, (src, dst) in cases.items():
            with pytest.raises(agent.ProtocolError):
                ops.vault_ingest_fds(item, src, dst, chunk_bytes=SMALL)
            assert os.fstat(dst).st_size in (0, len(b"do not overwrite")), label
        with pytest.raises(agent.ProtocolError):  # descriptors on an operation that takes none
            ops.call_fds("status", (read_fd,))
    finally:
        for fd in {read_fd, pipe_r, pipe_w, *(fd for pair in cases.values() for fd in pair)}:
            os.close(fd)
    assert used.read_bytes() == b"do not overwrite"
    assert ops.status()["unlocked"]  # the agent is still up and still unlocked


def test_it_stops_a_streaming_ingest_when_the_agent_locks(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * BATCH))
    sealer = keys.VaultChunkSealer(str(crypto.record_id_new()), crypto.ChunkSealer(crypto.random_key()))
    checks = []

    def alive() -> None:
        checks.append(1)
        if len(checks) == 2:
            raise keys.LockedError("locked during the ingest")

    src = os.open(source, os.O_RDONLY)
    dst = os.open(tmp_path / "chunks.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(keys.LockedError):
            vault.seal_stream(src, dst, chunk_bytes=SMALL, sealer=sealer, alive=alive)
    finally:
        os.close(src)
        os.close(dst)
    assert len(checks) == 2  # nothing was sealed after the lock


def test_it_stops_a_streaming_ingest_when_writing_fails(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(8 * BATCH))
    sealer = keys.VaultChunkSealer(str(crypto.record_id_new()), crypto.ChunkSealer(crypto.random_key()))
    checks = []
    pipe_r, pipe_w = os.pipe()
    os.close(pipe_r)  # nobody reads: the writer's first write fails
    src = os.open(source, os.O_RDONLY)
    try:
        with pytest.raises(BrokenPipeError):
            vault.seal_stream(src, pipe_w, chunk_bytes=SMALL, sealer=sealer, alive=lambda: checks.append(1))
    finally:
        os.close(src)
        os.close(pipe_w)
    # The sealer stopped too: at most the batches with a sealed buffer to spare, and the one after, of 8.
    assert 1 <= len(checks) <= vault.STREAM_OUT_BUFFERS + 1


def test_it_leaves_no_partial_item_when_the_agent_refuses_a_descriptor_ingest(
    tmp_path: Path, ops: agent.AgentClient
) -> None:
    path = tmp_path / "source.bin"
    path.write_bytes(os.urandom(3 * SMALL))

    class Refusing(_Spy):
        def vault_ingest_fds(
            self, item_id: str, source_fd: int, dest_fd: int, *, chunk_bytes: int
        ) -> tuple[bytes, vault.SealedStream]:
            return self.client.vault_ingest_fds(item_id, source_fd, dest_fd, chunk_bytes=1)  # out of range

    with path.open("rb") as fh, pytest.raises(agent.AgentError):
        vault.vault_ingest(tmp_path / "vault", Refusing(ops), fh, actor="user:1", chunk_bytes=SMALL)
    assert list(vault.vault_items(tmp_path / "vault")) == []
    assert list((tmp_path / "vault" / "tmp").iterdir()) == []


def _seal_file(tmp_path: Path, source: Path, key: bytes, name: str) -> tuple[bytes, vault.SealedStream, int]:
    sealer = keys.VaultChunkSealer("0" * 32, crypto.ChunkSealer(key))
    src = os.open(source, os.O_RDONLY)
    dst = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        stream = vault.seal_stream(src, dst, chunk_bytes=SMALL, sealer=sealer)
        flags = fcntl.fcntl(dst, fcntl.F_GETFL)
    finally:
        os.close(src)
        os.close(dst)
    return (tmp_path / name).read_bytes(), stream, flags


def _opened(key: bytes, sealed: bytes, stream: vault.SealedStream) -> bytes:
    """The plaintext back, each stored chunk checked against its recorded hash first."""
    step, count = SMALL + vault.SEAL_OVERHEAD, len(stream.chunk_sha256)
    blobs = [sealed[i * step : (i + 1) * step] for i in range(count)]
    assert b"".join(blobs) == sealed
    assert [crypto.digest(b).hex() for b in blobs] == list(stream.chunk_sha256)
    return b"".join(
        crypto.chunk_decrypt(key, b, associated_data=keys.vault_chunk_context("0" * 32, i, i == count - 1))
        for i, b in enumerate(blobs)
    )


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, BATCH, BATCH + 1, 3 * BATCH + 4095])
def test_it_writes_around_the_page_cache_what_it_would_write_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    data = os.urandom(size)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    probe = os.open(tmp_path / "probe.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        direct = vault._DirectWriter.open(probe, SMALL)
        assert direct is not None, "this filesystem refuses O_DIRECT: the direct path is not tested here"
        direct.finish(tail=False)
    finally:
        os.close(probe)
    key = crypto.random_key()
    around, stream_a, flags = _seal_file(tmp_path, source, key, "direct.bin")
    monkeypatch.setattr(vault, "DIRECT_IO", False)
    through, stream_b, _ = _seal_file(tmp_path, source, key, "buffered.bin")
    assert len(around) == len(through)  # the nonces differ, the shape does not
    assert _opened(key, around, stream_a) == data == _opened(key, through, stream_b)
    assert stream_a.sha256 == stream_b.sha256 and stream_a.size == size
    assert not flags & os.O_DIRECT  # the descriptor is handed back as it came


def test_it_falls_back_to_the_page_cache_when_direct_writes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "chunks.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"head", 0)
        direct = vault._DirectWriter.open(fd, 4 * SMALL)
        assert direct is not None
        # An offset off the block grid: the kernel refuses the direct write (EINVAL), as some filesystems
        # refuse every one; the writer must then go on through the page cache.
        direct.offset = 4
        data = os.urandom(3 * SMALL + 100)
        direct.stage(memoryview(data))
        direct.flush()
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
        direct.finish(tail=True)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"head" + data
