"""The evidence vault: files kept unmodified, encrypted in chunks, with a chain of custody per item.

Layout under the vault directory (owner-only: directories 0700, files 0600)::

    items/<xx>/<item id>/chunks.bin      sealed chunks back to back: nonce + ciphertext + tag each
                        /manifest.json   id, size, chunk count, SHA-256 of the original, of each sealed chunk,
                                         and the item's wrapped data key
                        /custody.jsonl   append-only: one hash-linked JSON line per action, no content
    tmp/                                 items being written; renamed into items/ only when complete

Each chunk is AES-256-GCM under the item's own data key, with the item id, the chunk's index and a
final-chunk flag as associated data (:func:`kartoteka.lib.keys.vault_chunk_context`), so a chunk moved to
another position or item, or a file cut short, fails to open. The data key lives only inside the key agent.
A regular file is ingested by handing the agent its descriptor and the new chunk file's (``SCM_RIGHTS``):
the agent reads, hashes, seals and writes itself (:func:`seal_stream`), so no plaintext crosses the socket.
Anything else (a buffer, a pipe) is streamed to the agent in batches and comes back sealed
(``vault_seal_chunks``) in a three-stage pipeline; reading is the reverse. Either way memory stays at a few
batches whatever the file size. No Django here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes
import errno
import fcntl
import io
import json
import mmap
import os
import queue
import re
import secrets
import shutil
import stat
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol, TypeVar, runtime_checkable

from kartoteka.lib import crypto

CHUNK_BYTES = 1024 * 1024
BATCH_CHUNKS = 2
PIPELINE_DEPTH = 2
# Streaming ingest inside the key agent (:func:`seal_stream`): how much is read, sealed and written per
# step, how many plaintext buffers the reader owns and sealed ones the writer drains, and how often written
# data is handed to the disk early.
STREAM_BATCH_BYTES = 4 * 1024 * 1024
STREAM_BUFFERS = 3
STREAM_OUT_BUFFERS = 2
WRITEBACK_BYTES = 8 * 1024 * 1024
MIN_CHUNK_BYTES = 4096
MAX_CHUNK_BYTES = 16 * 1024 * 1024
SEAL_OVERHEAD = crypto.NONCE_BYTES + crypto.TAG_BYTES
DIR_MODE = 0o700
FILE_MODE = 0o600
CHUNKS_FILE = "chunks.bin"
MANIFEST_FILE = "manifest.json"
CUSTODY_FILE = "custody.jsonl"
ACTIONS = frozenset({"received", "opened", "viewed", "exported", "copy_made"})
READ_ACTIONS = frozenset({"opened", "viewed", "exported", "copy_made"})
GENESIS = "0" * 64

_FORMAT = 1
_ACTOR_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


class VaultError(Exception):
    """Base class of the vault's errors. Messages name item ids (random) and chunk numbers, nothing else."""


class ItemNotFoundError(VaultError):
    pass


class VaultIntegrityError(VaultError, crypto.IntegrityError):
    """Stored bytes do not match their manifest or fail authentication."""

    def __init__(self, item_id: str, chunk: int | None, problem: str) -> None:
        where = f"chunk {chunk}" if chunk is not None else "item"
        super().__init__(f"evidence item {item_id}, {where}: {problem}")
        self.item_id = item_id
        self.chunk = chunk
        self.problem = problem


class CustodyError(VaultError):
    pass


class VaultKeyOperations(Protocol):
    """What the vault needs from the key agent (:class:`~kartoteka.lib.agent.AgentClient`) or, in tests,
    an in-process :class:`~kartoteka.lib.keys.KeySession`."""

    def vault_seal_chunks(
        self,
        item_id: str,
        wrapped_key: bytes | None,
        first_index: int,
        chunks: Sequence[bytes],
        *,
        final: bool,
    ) -> tuple[bytes, list[bytes]]: ...

    def vault_open_chunks(
        self, item_id: str, wrapped_key: bytes, first_index: int, blobs: Sequence[bytes], *, last_index: int
    ) -> list[bytes]: ...


@runtime_checkable
class VaultStreamOperations(Protocol):
    """A key agent that seals a whole file itself (:meth:`~kartoteka.lib.agent.AgentClient.
    vault_ingest_fds`): it is handed the source and destination descriptors, so the plaintext never
    crosses the socket. Returns the item's wrapped data key and what :func:`seal_stream` measured."""

    def vault_ingest_fds(
        self, item_id: str, source_fd: int, dest_fd: int, *, chunk_bytes: int
    ) -> tuple[bytes, SealedStream]: ...


class ChunkSealer(Protocol):
    """Seals one chunk of one item into ``out`` (:class:`kartoteka.lib.keys.VaultChunkSealer`)."""

    def seal_into(self, index: int, chunk: memoryview, out: memoryview, *, final: bool) -> int: ...


# --- records -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    item_id: str
    size: int
    chunk_bytes: int
    chunk_count: int
    sha256: str  # of the original bytes, hex
    chunk_sha256: tuple[str, ...]  # of each sealed chunk as stored, hex
    wrapped_key: bytes  # the item's data key, wrapped under the keyring (keys.dek_key_version reads it)
    created: str

    def to_json(self) -> bytes:
        obj = {
            "format": _FORMAT,
            "item_id": self.item_id,
            "size": self.size,
            "chunk_bytes": self.chunk_bytes,
            "chunk_count": self.chunk_count,
            "sha256": self.sha256,
            "chunk_sha256": list(self.chunk_sha256),
            "wrapped_key": base64.b64encode(self.wrapped_key).decode("ascii"),
            "created": self.created,
        }
        return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, item_id: str) -> Manifest:
        try:
            obj = json.loads(raw)
            if obj["format"] != _FORMAT or obj["item_id"] != item_id:
                raise ValueError
            manifest = cls(
                item_id=item_id,
                size=int(obj["size"]),
                chunk_bytes=int(obj["chunk_bytes"]),
                chunk_count=int(obj["chunk_count"]),
                sha256=str(obj["sha256"]),
                chunk_sha256=tuple(str(h) for h in obj["chunk_sha256"]),
                wrapped_key=base64.b64decode(obj["wrapped_key"], validate=True),
                created=str(obj["created"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise VaultIntegrityError(item_id, None, "the manifest is malformed") from None
        if (
            manifest.chunk_count < 1
            or len(manifest.chunk_sha256) != manifest.chunk_count
            or not MIN_CHUNK_BYTES <= manifest.chunk_bytes <= MAX_CHUNK_BYTES
            or manifest.chunk_count != max(1, -(-manifest.size // manifest.chunk_bytes))
        ):
            raise VaultIntegrityError(item_id, None, "the manifest is inconsistent")
        return manifest

    def digest(self) -> str:
        """SHA-256 of the manifest as stored: recorded in the custody log and fit for the audit chain."""
        return crypto.digest(self.to_json()).hex()

    def sealed_length(self, index: int) -> int:
        if index < self.chunk_count - 1:
            return self.chunk_bytes + SEAL_OVERHEAD
        return self.size - (self.chunk_count - 1) * self.chunk_bytes + SEAL_OVERHEAD

    def sealed_offset(self, index: int) -> int:
        return index * (self.chunk_bytes + SEAL_OVERHEAD)

    @property
    def sealed_size(self) -> int:
        return self.sealed_offset(self.chunk_count - 1) + self.sealed_length(self.chunk_count - 1)


@dataclass(frozen=True)
class SealedStream:
    """What :func:`seal_stream` wrote: the original's size and SHA-256, and the SHA-256 of each sealed
    chunk in order."""

    size: int
    sha256: str
    chunk_sha256: tuple[str, ...]


@dataclass(frozen=True)
class CustodyEntry:
    seq: int
    item_id: str
    action: str
    actor: str
    at: str  # UTC, ISO 8601, seconds
    prev: str  # hash of the previous line (GENESIS for the first)
    manifest: str | None  # manifest digest, on "received"
    line_hash: str  # hash of this line, the next entry's ``prev``


@dataclass(frozen=True)
class VerifyReport:
    item_id: str
    ok: bool
    chunks_checked: int
    first_bad_chunk: int | None  # None with ok False: the problem is not in one chunk (manifest, custody)
    problem: str | None
    decrypted: bool  # True when the check also opened every chunk and re-hashed the original


# --- paths and files ---------------------------------------------------------------------------------------


def item_id_check(item_id: str) -> str:
    """The canonical form of an item id; anything but a UUID is refused, so an id never walks a path."""
    try:
        return str(uuid.UUID(item_id))
    except (ValueError, AttributeError, TypeError):
        raise ItemNotFoundError("not an evidence item id") from None


def _item_dir(root: Path, item_id: str) -> Path:
    item_id = item_id_check(item_id)
    return root / "items" / item_id[-2:] / item_id


def _ensure_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_new_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_full(source: IO[bytes], n: int) -> bytes:
    data = source.read(n)
    if len(data) == n or not data:
        return data
    parts, got = [data], len(data)
    while got < n:  # pipes and sockets may return short reads before the end
        part = source.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def manifest_load(root: Path, item_id: str) -> Manifest:
    item_id = item_id_check(item_id)
    try:
        raw = (_item_dir(root, item_id) / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        raise ItemNotFoundError(f"no evidence item {item_id}") from None
    return Manifest.from_json(raw, item_id)


def vault_items(root: Path) -> Iterator[str]:
    """Every stored item id, in no particular order."""
    base = root / "items"
    if not base.is_dir():
        return
    for shard in sorted(base.iterdir()):
        for item in sorted(shard.iterdir()):
            if (item / MANIFEST_FILE).is_file():
                yield item.name


# --- ingest ------------------------------------------------------------------------------------------------


_T = TypeVar("_T")
_Batch = tuple[int, list[bytes], bool]  # first chunk index, plaintext chunks, whether the last is final


class _Pipeline:
    """Bounded queues between threads; the first failure anywhere stops every stage."""

    def __init__(self) -> None:
        self.failed = threading.Event()
        self.errors: list[BaseException] = []

    def fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.failed.set()

    def put(self, q: queue.Queue[_T], item: _T) -> bool:
        while not self.failed.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[_T | None]) -> _T | None:
        """The next item; None at the end of the stream or when a stage failed."""
        while not self.failed.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def run(self, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the caller's thread, which raises it
                self.fail(exc)

        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()
        return thread


def vault_ingest(
    root: Path,
    ops: VaultKeyOperations,
    source: IO[bytes],
    *,
    actor: str,
    item_id: str | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Manifest:
    """Stream ``source`` into a new vault item and record "received" in its custody log.

    The item appears (one directory rename) only once every chunk, the manifest and the first custody line
    are on disk and fsynced; a failure leaves nothing behind. Plaintext never touches the disk.
    """
    _actor_check(actor)
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise VaultError("chunk size out of range")
    item_id = item_id_check(item_id) if item_id is not None else str(crypto.record_id_new())
    final_dir = _item_dir(root, item_id)
    if final_dir.exists():
        raise VaultError(f"evidence item {item_id} already exists")
    for directory in (root, root / "tmp", root / "items"):
        _ensure_dir(directory)
    work = root / "tmp" / f"{item_id}.{secrets.token_hex(4)}"
    work.mkdir(mode=DIR_MODE)
    try:
        source_fd = _regular_file_fd(source) if isinstance(ops, VaultStreamOperations) else None
        if isinstance(ops, VaultStreamOperations) and source_fd is not None:
            manifest = _ingest_fds(work, ops, source, source_fd, item_id, chunk_bytes)
        else:
            manifest = _ingest_into(work, ops, source, item_id, chunk_bytes)
        _write_new_file(work / MANIFEST_FILE, manifest.to_json())
        _custody_write(work / CUSTODY_FILE, item_id, "received", actor, manifest.digest())
        _fsync_dir(work)
        _ensure_dir(final_dir.parent)
        os.rename(work, final_dir)
        _fsync_dir(final_dir.parent)
        _fsync_dir(root / "tmp")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _regular_file_fd(source: IO[bytes]) -> int | None:
    """The descriptor of a seekable regular file, which the agent can read directly; None otherwise."""
    try:
        fd = source.fileno()
        if not source.seekable() or not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd


def _ingest_fds(
    work: Path, ops: VaultStreamOperations, source: IO[bytes], source_fd: int, item_id: str, chunk_bytes: int
) -> Manifest:
    """The fast path: the agent reads the source descriptor, seals and writes the chunk file itself."""
    # A buffered reader may have read ahead of where it logically is: the agent starts at the logical place.
    start = source.tell()
    os.lseek(source_fd, start, os.SEEK_SET)
    fd = os.open(work / CHUNKS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        wrapped, stream = ops.vault_ingest_fds(item_id, source_fd, fd, chunk_bytes=chunk_bytes)
        written = os.fstat(fd).st_size
    finally:
        os.close(fd)
    source.seek(start + stream.size)
    manifest = Manifest(
        item_id=item_id,
        size=stream.size,
        chunk_bytes=chunk_bytes,
        chunk_count=len(stream.chunk_sha256),
        sha256=stream.sha256,
        chunk_sha256=stream.chunk_sha256,
        wrapped_key=wrapped,
        created=_now(),
    )
    if manifest.chunk_count != max(1, -(-manifest.size // chunk_bytes)) or written != manifest.sealed_size:
        raise VaultError("evidence ingest ended early")
    return manifest


def seal_stream(
    source_fd: int,
    dest_fd: int,
    *,
    chunk_bytes: int,
    sealer: ChunkSealer,
    alive: Callable[[], None] = lambda: None,
) -> SealedStream:
    """Read ``source_fd`` to its end, seal it chunk by chunk into the empty file ``dest_fd`` and fsync it.

    Runs inside the key agent, in three threads that keep both cores busy: a reader (``readv`` into a few
    preallocated buffers + SHA-256 of the original), this one (AES-GCM of each chunk into a preallocated
    output buffer + SHA-256 of each sealed chunk) and a writer. The writer writes around the page cache
    (:class:`_DirectWriter`, ``O_DIRECT``) where the filesystem allows it, else with ``write`` and an early
    start of the disk's writeback. OpenSSL's hashing and cipher and the system calls release the GIL, so
    the stages overlap; the writer is its own thread because a write costs as much as a hash, and with it
    on the sealing thread that thread carried two thirds of the work and set the pace alone. Memory stays
    at ``STREAM_BUFFERS + STREAM_OUT_BUFFERS`` batches plus the direct writer's stage (24 MiB) whatever
    the file's size. ``alive`` is called before each batch and raises to stop (the agent was locked). The
    destination is preallocated, so the disk writes while the CPU seals and the final fsync has little
    left to do.
    """
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise VaultError("chunk size out of range")
    per_batch = max(1, STREAM_BATCH_BYTES // chunk_bytes)
    # Two still make progress (the reader holds one while it reads the next): for huge chunks.
    buffers = STREAM_BUFFERS if chunk_bytes <= STREAM_BATCH_BYTES else 2
    pipe = _Pipeline()
    free_plain: queue.Queue[bytearray | None] = queue.Queue()
    for _ in range(buffers):
        free_plain.put(bytearray(per_batch * chunk_bytes))
    free_out: queue.Queue[bytearray | None] = queue.Queue()
    for _ in range(STREAM_OUT_BUFFERS):
        free_out.put(bytearray(per_batch * (chunk_bytes + SEAL_OVERHEAD)))
    to_seal: queue.Queue[tuple[bytearray, int, bool] | None] = queue.Queue()
    to_write: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
    plain_hash = crypto.digest_stream()
    size = 0
    _preallocate(source_fd, dest_fd, chunk_bytes)

    def read() -> None:
        nonlocal size
        # A batch read but not passed on yet: only the next read tells whether it was the last.
        held: tuple[bytearray, int] | None = None
        while (buf := pipe.get(free_plain)) is not None:
            n = _fill(source_fd, buf)
            if n == 0:
                last = held if held is not None else (buf, 0)  # an empty file is one empty final chunk
                if held is not None:
                    free_plain.put(buf)
                pipe.put(to_seal, (*last, True))
                pipe.put(to_seal, None)
                return
            if held is not None and not pipe.put(to_seal, (*held, False)):
                return
            plain_hash.update(memoryview(buf)[:n])
            size += n
            if n < len(buf):  # _fill stops short only at the end
                pipe.put(to_seal, (buf, n, True))
                pipe.put(to_seal, None)
                return
            held = (buf, n)

    def write() -> None:
        direct = _DirectWriter.open(dest_fd, per_batch * (chunk_bytes + SEAL_OVERHEAD)) if DIRECT_IO else None
        written = synced = 0
        try:
            while (item := pipe.get(to_write)) is not None:
                out, length = item
                if direct is not None:
                    direct.stage(memoryview(out)[:length])
                    free_out.put(out)  # staged: the sealer may refill it while the disk reads the stage
                    direct.flush()
                    continue
                _write_all(dest_fd, memoryview(out)[:length])
                free_out.put(out)
                written += length
                if written - synced >= WRITEBACK_BYTES:
                    _writeback_start(dest_fd, synced, written - synced)
                    synced = written
        finally:
            if direct is not None:
                direct.finish(tail=not pipe.failed.is_set())

    reader, writer = pipe.run(read), pipe.run(write)
    chunk_hashes: list[str] = []
    sealed = 0
    try:
        while (batch := pipe.get(to_seal)) is not None:
            alive()
            plain, n, final = batch
            out = pipe.get(free_out)
            if out is None:
                break
            hashes, length = _seal_batch(
                sealer, memoryview(plain)[:n], memoryview(out), len(chunk_hashes), final, chunk_bytes
            )
            free_plain.put(plain)
            chunk_hashes += hashes
            sealed += length
            if not pipe.put(to_write, (out, length)):
                break
        pipe.put(to_write, None)
    except BaseException as exc:
        pipe.fail(exc)
    reader.join()
    writer.join()
    if pipe.errors:
        raise pipe.errors[0]
    if os.fstat(dest_fd).st_size != sealed:  # preallocated for a source that then shrank
        os.ftruncate(dest_fd, sealed)
    os.fsync(dest_fd)
    return SealedStream(size=size, sha256=plain_hash.hexdigest(), chunk_sha256=tuple(chunk_hashes))


class _DirectWriter:
    """The sealed stream written around the page cache (``O_DIRECT``), from one page-aligned stage.

    Buffered writes copy every byte into freshly allocated page-cache pages, and on a virtual machine
    whose host takes freed memory back, allocating them again made ``write`` up to five times slower
    from one ingest to the next (0.25 to 1.4 CPU-seconds per GiB, measured); direct writes let the disk
    read the stage itself. They must cover whole 4 KiB blocks at aligned offsets, so each flush writes
    the stage's aligned part and moves the remainder (under one block) to the stage's start; the last
    remainder goes through the page cache (``finish``)."""

    def __init__(self, fd: int, capacity: int) -> None:
        self.fd = fd
        self.buffer = mmap.mmap(-1, capacity + _DIRECT_ALIGN)  # anonymous maps are page-aligned
        self.view = memoryview(self.buffer)
        self.filled = 0
        self.offset = 0  # where the stage's first byte goes in the file

    @classmethod
    def open(cls, fd: int, capacity: int) -> _DirectWriter | None:
        """A direct writer for ``fd``, or None where the filesystem refuses direct I/O (or ``fd`` is not
        a regular file: a pipe takes O_DIRECT as its packet mode)."""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
        except OSError:
            return None
        return cls(fd, capacity)

    def stage(self, data: memoryview) -> None:
        end = self.filled + len(data)
        self.view[self.filled : end] = data
        self.filled = end

    def flush(self) -> None:
        aligned = self.filled - self.filled % _DIRECT_ALIGN
        if not aligned:
            return
        try:
            _pwrite_all(self.fd, self.view[:aligned], self.offset)
        except OSError as exc:
            # Some filesystems take the flag and then refuse the writes (or want larger blocks): the same
            # bytes at the same place through the page cache, and so on to the end.
            if exc.errno != errno.EINVAL or not self._direct_off():
                raise
            _pwrite_all(self.fd, self.view[:aligned], self.offset)
        self.offset += aligned
        rest = self.filled - aligned  # under one block, so the two ranges never overlap
        self.view[:rest] = self.view[aligned : self.filled]
        self.filled = rest

    def _direct_off(self) -> bool:
        """Clear O_DIRECT; True if it was set."""
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        return bool(flags & os.O_DIRECT)

    def finish(self, *, tail: bool) -> None:
        try:
            self._direct_off()
            if tail and self.filled:
                _pwrite_all(self.fd, self.view[: self.filled], self.offset)
        finally:
            # After a failed write a traceback may still hold a slice of the stage; the map then goes
            # with the last reference instead.
            with contextlib.suppress(BufferError):
                self.view.release()
                self.buffer.close()


_DIRECT_ALIGN = 4096
# Off only to compare with buffered writes (bench) or where a filesystem accepts O_DIRECT but serves it badly.
DIRECT_IO = True


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def _seal_batch(
    sealer: ChunkSealer, plain: memoryview, out: memoryview, first: int, final: bool, chunk_bytes: int
) -> tuple[list[str], int]:
    """Seal consecutive chunks of ``plain`` back to back into ``out``; returns the hex SHA-256 of each
    sealed chunk and the bytes written."""
    hashes = []
    starts = range(0, max(len(plain), 1), chunk_bytes)
    pos = 0
    for i, start in enumerate(starts):
        piece = plain[start : start + chunk_bytes]
        length = sealer.seal_into(first + i, piece, out[pos:], final=final and i == len(starts) - 1)
        hashes.append(crypto.digest(out[pos : pos + length]).hex())
        pos += length
    return hashes, pos


def _fill(fd: int, buf: bytearray) -> int:
    """Read until ``buf`` is full or the source ends (pipes may return short reads before the end)."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            break
        got += n
    return got


def _preallocate(source_fd: int, dest_fd: int, chunk_bytes: int) -> None:
    """Reserve the sealed size up front when the source's size is known: ext4 then allocates once instead
    of at every write, which otherwise costs as much as the writing. Best effort."""
    st = os.fstat(source_fd)
    if not stat.S_ISREG(st.st_mode):
        return
    remaining = max(0, st.st_size - os.lseek(source_fd, 0, os.SEEK_CUR))
    sealed = remaining + max(1, -(-remaining // chunk_bytes)) * SEAL_OVERHEAD
    with contextlib.suppress(OSError):
        os.posix_fallocate(dest_fd, 0, sealed)


_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE = _sync_file_range()


def _writeback_start(fd: int, offset: int, length: int) -> None:
    """Start writing a range to the disk without waiting (Linux ``sync_file_range``), so the fsync at the
    end does not find a gigabyte still in memory. A hint: failures are ignored, the fsync still runs."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _ingest_into(
    work: Path, ops: VaultKeyOperations, source: IO[bytes], item_id: str, chunk_bytes: int
) -> Manifest:
    pipe = _Pipeline()
    to_seal: queue.Queue[_Batch | None] = queue.Queue(PIPELINE_DEPTH)
    to_write: queue.Queue[list[bytes] | None] = queue.Queue(PIPELINE_DEPTH)
    wrapped: list[bytes] = []
    chunk_hashes: list[str] = []

    def seal() -> None:
        while (batch := pipe.get(to_seal)) is not None:
            first, chunks, final = batch
            key, sealed = ops.vault_seal_chunks(
                item_id, wrapped[0] if wrapped else None, first, chunks, final=final
            )
            if not wrapped:
                wrapped.append(key)
            if not pipe.put(to_write, sealed):
                return
        pipe.put(to_write, None)

    def write() -> None:
        fd = os.open(work / CHUNKS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            while (sealed := pipe.get(to_write)) is not None:
                for blob in sealed:
                    chunk_hashes.append(crypto.digest(blob).hex())
                    _write_all(fd, blob)
            if not pipe.failed.is_set():
                os.fsync(fd)
        finally:
            os.close(fd)

    threads = [pipe.run(seal), pipe.run(write)]
    plain_hash = crypto.digest_stream()
    size = 0
    index = 0
    try:
        chunk = _read_full(source, chunk_bytes)
        while not pipe.failed.is_set():
            batch: list[bytes] = []
            final = False
            while len(batch) < BATCH_CHUNKS:
                plain_hash.update(chunk)
                size += len(chunk)
                batch.append(chunk)
                # Read one chunk ahead: only an empty read tells that the previous chunk was the last.
                chunk = _read_full(source, chunk_bytes) if len(chunk) == chunk_bytes else b""
                if not chunk:
                    final = True
                    break
            if not pipe.put(to_seal, (index, batch, final)):
                break
            index += len(batch)
            if final:
                pipe.put(to_seal, None)
                break
    except BaseException as exc:
        pipe.fail(exc)
    for thread in threads:
        thread.join()
    if pipe.errors:
        raise pipe.errors[0]
    if len(chunk_hashes) != index or len(wrapped) != 1:
        raise VaultError("evidence ingest ended early")
    return Manifest(
        item_id=item_id,
        size=size,
        chunk_bytes=chunk_bytes,
        chunk_count=index,
        sha256=plain_hash.hexdigest(),
        chunk_sha256=tuple(chunk_hashes),
        wrapped_key=wrapped[0],
        created=_now(),
    )


# --- reading and verifying ---------------------------------------------------------------------------------


def _sealed_batches(root: Path, manifest: Manifest) -> Iterator[tuple[int, list[bytes]]]:
    """Stored chunks in batches, each checked against its manifest hash before anyone decrypts it."""
    path = _item_dir(root, manifest.item_id) / CHUNKS_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise VaultIntegrityError(manifest.item_id, None, "the chunk file is missing") from None
    try:
        if os.fstat(fd).st_size != manifest.sealed_size:
            raise VaultIntegrityError(manifest.item_id, None, "the chunk file has the wrong length")
        for first in range(0, manifest.chunk_count, BATCH_CHUNKS):
            batch = []
            for i in range(first, min(first + BATCH_CHUNKS, manifest.chunk_count)):
                blob = os.pread(fd, manifest.sealed_length(i), manifest.sealed_offset(i))
                if crypto.digest(blob).hex() != manifest.chunk_sha256[i]:
                    raise VaultIntegrityError(manifest.item_id, i, "does not match its manifest hash")
                batch.append(blob)
            yield first, batch
    finally:
        os.close(fd)


def _open_batch(ops: VaultKeyOperations, manifest: Manifest, first: int, blobs: list[bytes]) -> list[bytes]:
    last = manifest.chunk_count - 1
    try:
        return ops.vault_open_chunks(manifest.item_id, manifest.wrapped_key, first, blobs, last_index=last)
    except crypto.IntegrityError:
        pass
    # The agent says only that the batch failed; retry one by one to name the first bad chunk.
    for i, blob in enumerate(blobs):
        try:
            ops.vault_open_chunks(manifest.item_id, manifest.wrapped_key, first + i, [blob], last_index=last)
        except crypto.IntegrityError:
            raise VaultIntegrityError(manifest.item_id, first + i, "fails authentication") from None
    raise VaultIntegrityError(manifest.item_id, first, "fails authentication")


def vault_read(
    root: Path, ops: VaultKeyOperations, item_id: str, *, actor: str, action: str = "opened"
) -> Iterator[bytes]:
    """The original bytes, chunk by chunk. The custody line is written before the first byte is returned;
    any stored byte that was changed raises :class:`VaultIntegrityError` before its chunk is returned,
    and a file whose whole does not hash to the manifest raises at the end."""
    if action not in READ_ACTIONS:
        raise CustodyError("not a reading action")
    manifest = manifest_load(root, item_id)
    custody_append(root, manifest.item_id, action, actor)
    return _plain_chunks(root, ops, manifest)


def _plain_chunks(root: Path, ops: VaultKeyOperations, manifest: Manifest) -> Iterator[bytes]:
    whole = crypto.digest_stream()
    for first, blobs in _sealed_batches(root, manifest):
        for plain in _open_batch(ops, manifest, first, blobs):
            whole.update(plain)
            yield plain
    if whole.hexdigest() != manifest.sha256:
        raise VaultIntegrityError(manifest.item_id, None, "the original's SHA-256 does not match")


def vault_export(
    root: Path,
    ops: VaultKeyOperations,
    item_id: str,
    dest: IO[bytes],
    *,
    actor: str,
    action: str = "exported",
) -> int:
    """Write the original bytes to ``dest`` (the caller chooses where plaintext may go); returns the size."""
    written = 0
    for plain in vault_read(root, ops, item_id, actor=actor, action=action):
        dest.write(plain)
        written += len(plain)
    return written


def vault_verify(root: Path, item_id: str, ops: VaultKeyOperations | None = None) -> VerifyReport:
    """Re-hash every stored chunk against the manifest and check the custody chain; with ``ops`` also open
    every chunk and re-hash the original. Reports the first bad chunk; writes nothing, logs nothing."""
    item_id = item_id_check(item_id)
    checked = 0
    try:
        manifest = manifest_load(root, item_id)
        custody = custody_verify(root, item_id)
        if custody is not None:
            return VerifyReport(item_id, False, 0, None, f"custody log line {custody} is broken", False)
        received = custody_read(root, item_id)[0]
        if received.manifest != manifest.digest():
            return VerifyReport(item_id, False, 0, None, "the manifest differs from the one received", False)
        if ops is None:
            for _, blobs in _sealed_batches(root, manifest):
                checked += len(blobs)
        else:
            for plain in _plain_chunks(root, ops, manifest):
                checked += 1
                del plain
    except VaultIntegrityError as exc:
        good = exc.chunk if exc.chunk is not None else checked  # every chunk before the bad one passed
        return VerifyReport(item_id, False, good, exc.chunk, exc.problem, ops is not None)
    return VerifyReport(item_id, True, checked, None, None, ops is not None)


# --- chain of custody --------------------------------------------------------------------------------------


def _actor_check(actor: str) -> str:
    if not isinstance(actor, str) or not _ACTOR_RE.match(actor):
        raise CustodyError("an actor is an id of 1 to 64 letters, digits or _.:@-")
    return actor


def _line_hash(line: bytes) -> str:
    return crypto.digest(line.rstrip(b"\n")).hex()


def _entry_parse(line: bytes, item_id: str) -> CustodyEntry:
    obj = json.loads(line)
    return CustodyEntry(
        seq=int(obj["seq"]),
        item_id=str(obj["item"]),
        action=str(obj["action"]),
        actor=str(obj["actor"]),
        at=str(obj["at"]),
        prev=str(obj["prev"]),
        manifest=obj.get("manifest"),
        line_hash=_line_hash(line),
    )


def _custody_write(
    path: Path, item_id: str, action: str, actor: str, manifest_digest: str | None = None
) -> CustodyEntry:
    """Append one line under an exclusive lock, so concurrent writers cannot fork the chain."""
    if action not in ACTIONS:
        raise CustodyError("unknown custody action")
    _actor_check(actor)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as fh:
            lines = fh.read().splitlines()
        prev, seq = (GENESIS, 0) if not lines else (_line_hash(lines[-1]), len(lines))
        obj: dict[str, object] = {
            "v": _FORMAT,
            "seq": seq,
            "item": item_id,
            "action": action,
            "actor": actor,
            "at": _now(),
            "prev": prev,
        }
        if manifest_digest is not None:
            obj["manifest"] = manifest_digest
        line = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        _write_all(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    return _entry_parse(line, item_id)


def custody_append(root: Path, item_id: str, action: str, actor: str) -> CustodyEntry:
    """Record an action on an existing item; returns the entry (for the audit chain too)."""
    item_dir = _item_dir(root, item_id)
    if not (item_dir / MANIFEST_FILE).is_file():
        raise ItemNotFoundError(f"no evidence item {item_id_check(item_id)}")
    if action == "received":
        raise CustodyError("an item is received once, at ingest")
    return _custody_write(item_dir / CUSTODY_FILE, item_id_check(item_id), action, actor)


def custody_read(root: Path, item_id: str) -> list[CustodyEntry]:
    item_id = item_id_check(item_id)
    try:
        raw = (_item_dir(root, item_id) / CUSTODY_FILE).read_bytes()
    except FileNotFoundError:
        raise ItemNotFoundError(f"no evidence item {item_id}") from None
    try:
        return [_entry_parse(line, item_id) for line in raw.splitlines()]
    except (ValueError, KeyError, TypeError):
        raise CustodyError(f"the custody log of {item_id} is malformed") from None


def custody_verify(root: Path, item_id: str) -> int | None:
    """The number of the first custody line that breaks the chain, or None when it is whole."""
    item_id = item_id_check(item_id)
    try:
        raw = (_item_dir(root, item_id) / CUSTODY_FILE).read_bytes()
    except FileNotFoundError:
        return 0
    prev = GENESIS
    lines = raw.splitlines()
    if not lines:
        return 0
    for n, line in enumerate(lines):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entry = _entry_parse(line, item_id)
            if (
                entry.seq == n
                and entry.prev == prev
                and entry.item_id == item_id
                and entry.action in ACTIONS
                and (entry.action == "received") == (n == 0)
            ):
                prev = entry.line_hash
                continue
        return n
    return None
