"""The backup file: one tar stream sealed with age to the recovery key. No Django here.

Members, in this order::

    kartoteka-backup.json        header: format, backup id, time, database kind and tool versions
    db/kartoteka.sqlite3         the SQLite snapshot, or db/postgresql.dump (pg_dump's custom format)
    keys/slots.json              the key slots and the keyring: wrapped keys and public keys only
    keys/keyring.json
    data/<path>                  every other file of the data directory, the evidence vault among them
    manifest.json                last: every member's size and SHA-256, schema state, audit head

The tar is produced in one thread and sealed in another through a pipe, so memory stays constant
whatever the size of the evidence store. age's STREAM authenticates every 64 KiB piece and marks the last,
so a flipped, removed or appended byte fails on reading; the manifest, checked member by member, also
proves that the archive was written to the end (a producer that failed half-way writes no manifest).
"""

from __future__ import annotations

import json
import os
import secrets
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol, cast

from kartoteka.lib import crypto

FORMAT = 1
HEADER_NAME = "kartoteka-backup.json"
MANIFEST_NAME = "manifest.json"
DB_SQLITE = "db/kartoteka.sqlite3"
DB_POSTGRES = "db/postgresql.dump"
KEYS_PREFIX = "keys/"
DATA_PREFIX = "data/"
KEY_FILES = ("slots.json", "keyring.json")
FILE_MODE = 0o600
DIR_MODE = 0o700
READ_BYTES = 1024 * 1024
_MAX_NAME = 4096


class BackupError(Exception):
    """A backup or restore refused or failed; the message says what to do."""


class BackupIntegrityError(BackupError):
    """The backup file is damaged, was altered, was cut short, or was not sealed to this recovery key."""


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    sha256: str


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def member_name_check(name: str) -> str:
    """A member name that cannot climb out of the directory it is restored into."""
    path = PurePosixPath(name)
    if (
        not name
        or len(name) > _MAX_NAME
        or "\x00" in name
        or "\\" in name
        or path.is_absolute()
        or str(path) != name
        or any(part in ("", ".", "..") for part in path.parts)
    ):
        raise BackupIntegrityError("the backup holds a member with an unsafe name")
    return name


# --- writing -----------------------------------------------------------------------------------------------


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _forget(tar: tarfile.TarFile) -> None:
    """tarfile keeps every header it has seen; with a large vault that is a lot of memory for nothing."""
    cast(Any, tar).members.clear()


class _HashingReader:
    """Exactly ``size`` bytes of ``source``, hashed on the way; a file that shrinks is an error, a file
    that grows is cut at the size it had when its tar header was written."""

    def __init__(self, source: _Readable, size: int, name: str) -> None:
        self.source = source
        self.left = size
        self.name = name
        self.hash = crypto.digest_stream()

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n is None or n < 0 else min(n, self.left)
        data = self.source.read(want)
        if not data:
            raise BackupError(f"{self.name} shrank while it was being backed up; run the backup again")
        self.left -= len(data)
        self.hash.update(data)
        return data


class ArchiveWriter:
    """Members go into a streaming tar; each one's size and SHA-256 go into the manifest."""

    def __init__(self, stream: IO[bytes]) -> None:
        # Not tarfile's stream mode: its buffer re-copies itself on every write. Plain "w" writes straight
        # through and only needs tell(), which _Position gives a pipe.
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=cast(IO[bytes], _Position(stream)), mode="w", format=tarfile.PAX_FORMAT
        )
        cast(Any, self._tar).copybufsize = READ_BYTES
        self.members: list[Member] = []
        self._names: set[str] = set()

    def _info(self, name: str, size: int, mtime: float) -> tarfile.TarInfo:
        name = member_name_check(name)
        if name in self._names:
            raise BackupError(f"two members named {name}")
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = FILE_MODE
        info.mtime = int(mtime)
        info.uname = info.gname = ""  # no user names of the server in the archive
        return info

    def add_bytes(self, name: str, data: bytes) -> Member:
        info = self._info(name, len(data), datetime.now(UTC).timestamp())
        reader = _HashingReader(_BytesSource(data), len(data), name)
        self._tar.addfile(info, reader)
        _forget(self._tar)
        member = Member(name, len(data), reader.hash.hexdigest())
        self.members.append(member)
        return member

    def add_file(self, name: str, path: Path) -> Member | None:
        """Stream one file in; None when it vanished before it could be opened."""
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return None
        with fh:
            st = os.fstat(fh.fileno())
            info = self._info(name, st.st_size, st.st_mtime)
            reader = _HashingReader(fh, st.st_size, name)
            self._tar.addfile(info, reader)
            _forget(self._tar)
        member = Member(name, st.st_size, reader.hash.hexdigest())
        self.members.append(member)
        return member

    def finish(self, manifest: dict[str, Any]) -> None:
        body = dict(manifest)
        body["members"] = [m.to_json() for m in self.members]
        data = (json.dumps(body, sort_keys=True, indent=1) + "\n").encode()
        info = self._info(MANIFEST_NAME, len(data), datetime.now(UTC).timestamp())
        self._tar.addfile(info, _HashingReader(_BytesSource(data), len(data), MANIFEST_NAME))
        self._tar.close()


class _Position:
    """A write-only stream that knows how much went through it (tarfile asks ``tell()``)."""

    def __init__(self, dest: IO[bytes]) -> None:
        self.dest = dest
        self.at = 0

    def write(self, data: bytes) -> int:
        self.dest.write(data)
        self.at += len(data)
        return len(data)

    def tell(self) -> int:
        return self.at


class _BytesSource:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._at = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._at + n
        out = bytes(self._view[self._at : end])
        self._at += len(out)
        return out


class _HashingWriter:
    def __init__(self, dest: IO[bytes]) -> None:
        self.dest = dest
        self.hash = crypto.digest_stream()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.dest.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.dest.flush()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sealed(
    out: Path, recipients: list[str], produce: Callable[[ArchiveWriter], dict[str, Any]]
) -> Written:
    """Seal what ``produce`` adds (then its manifest) into ``out``: written under a temporary name,
    fsynced, then renamed, so ``out`` appears complete or not at all. Never overwrites."""
    if out.exists():
        raise BackupError(f"{out} already exists; choose another name")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a directory")
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    failures: list[BaseException] = []
    rfd, wfd = os.pipe()

    def producer() -> None:
        try:
            with os.fdopen(wfd, "wb", buffering=READ_BYTES) as pipe:
                writer = ArchiveWriter(pipe)
                writer.finish(produce(writer))
        except BaseException as exc:  # handed to the caller's thread, which raises it
            failures.append(exc)

    thread = threading.Thread(target=producer, name="backup-tar", daemon=True)
    try:
        with os.fdopen(fd, "wb", buffering=READ_BYTES) as fh:
            sink = _HashingWriter(fh)
            try:
                with os.fdopen(rfd, "rb", buffering=READ_BYTES) as source:
                    thread.start()
                    crypto.seal_stream(source, cast(IO[bytes], sink), recipients)
            finally:
                thread.join()  # the read end is closed: a producer still writing gets EPIPE and stops
            if failures:
                raise failures[0]
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Written(out, sink.size, sink.hash.hexdigest())


# --- reading -----------------------------------------------------------------------------------------------


class ArchiveReader:
    """The members of a backup's tar stream, in order; each can be read once, while it is current."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        try:
            self._tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115
        except (tarfile.TarError, EOFError, OSError):
            raise BackupIntegrityError("the backup's contents are not a Kartoteka archive") from None

    def next(self) -> tuple[str, int, IO[bytes]] | None:
        """The next file member (name, size, reader), or None at the end of the archive."""
        try:
            while True:
                info = self._tar.next()
                _forget(self._tar)
                if info is None:
                    return None
                if info.isdir():
                    continue
                if not info.isreg():
                    raise BackupIntegrityError("the backup holds something other than files")
                src = self._tar.extractfile(info)
                if src is None:
                    raise BackupIntegrityError("the backup holds an unreadable member")
                return member_name_check(info.name), info.size, src
        except (tarfile.TarError, EOFError):
            raise BackupIntegrityError("the backup's archive is malformed or cut short") from None

    def drain(self) -> None:
        """Read to the very end, so the last sealed piece is authenticated too; only tar padding may follow
        the manifest."""
        if self.next() is not None:
            raise BackupIntegrityError("the backup continues after its manifest")
        while chunk := self._stream.read(READ_BYTES):
            if chunk.strip(b"\x00"):
                raise BackupIntegrityError("the backup continues after its manifest")


def read_json(src: IO[bytes], size: int, what: str, limit: int = 256 * 1024 * 1024) -> dict[str, Any]:
    if size > limit:
        raise BackupIntegrityError(f"the backup's {what} is implausibly large")
    try:
        obj = json.loads(src.read(size))
    except ValueError:
        raise BackupIntegrityError(f"the backup's {what} is malformed") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise BackupIntegrityError(f"the backup's {what} has an unknown format")
    return obj


def copy_member(src: IO[bytes], size: int, dest: Path) -> str:
    """Write one member to a new private file (never over an existing one), fsynced; its SHA-256."""
    dest.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    digest = crypto.digest_stream()
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise BackupIntegrityError("the backup holds the same file twice") from None
    with os.fdopen(fd, "wb") as fh:
        left = size
        while left > 0:
            chunk = src.read(min(READ_BYTES, left))
            if not chunk:
                raise BackupIntegrityError("the backup's archive is cut short")
            fh.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def read_sealed[T](backup: Path, secret: str, consume: Callable[[ArchiveReader], T]) -> T:
    """Open ``backup`` with the recovery secret and hand its archive to ``consume``, which must read it to
    the end (:meth:`ArchiveReader.drain`). A failed authentication anywhere wins over whatever ``consume``
    made of the bytes before it: those bytes were not genuine."""
    try:
        src = open(backup, "rb")  # noqa: SIM115 - closed by the decrypting thread
    except OSError as exc:
        raise BackupError(f"cannot read {backup}: {exc.strerror}") from None
    failures: list[BaseException] = []
    rfd, wfd = os.pipe()

    def decrypt() -> None:
        try:
            with src, os.fdopen(wfd, "wb", buffering=READ_BYTES) as pipe:
                crypto.unseal_stream(src, pipe, secret)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=decrypt, name="backup-open", daemon=True)
    thread.start()
    result: T | None = None
    error: BaseException | None = None
    try:
        with os.fdopen(rfd, "rb", buffering=READ_BYTES) as stream:
            result = consume(ArchiveReader(stream))
    except BaseException as exc:
        error = exc
    thread.join()
    for failure in failures:
        if isinstance(failure, crypto.MalformedError):
            raise BackupError("the recovery secret is malformed; check it for typos") from None
        if isinstance(failure, crypto.IntegrityError):
            raise BackupIntegrityError(
                f"the backup cannot be trusted: {failure}. Nothing was restored from it."
            ) from None
        if error is None and not isinstance(failure, BrokenPipeError):
            raise failure
    if error is not None:
        raise error
    return result  # type: ignore[return-value]
