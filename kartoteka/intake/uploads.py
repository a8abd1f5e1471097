"""Uploads that never touch the disk in clear: each file is held in memory up to a limit, hashed while it
streams, and refused whole when it is over the limit or one too many. Replaces Django's temporary-file
handler on the intake's views (and everywhere on the intake host, settings_intake)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

from kartoteka.intake import conf
from kartoteka.lib import crypto

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_file_bytes: int
    max_request_bytes: int


def limits() -> Limits:
    max_files = conf.number("KARTOTEKA_INTAKE_MAX_FILES", 5)
    max_file = conf.number("KARTOTEKA_INTAKE_MAX_FILE_MB", 20) * MB
    return Limits(max_files, max_file, max_files * max_file + MB)


@dataclass
class UploadProblems:
    too_many: bool = False
    too_large: list[str] = field(default_factory=list)


class HashedMemoryFile(InMemoryUploadedFile):
    sha256: str


class IntakeUploadHandler(FileUploadHandler):
    """Memory only, bounded, with SHA-256 of the original bytes computed as they arrive."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limits = limits()
        self.problems = UploadProblems()
        self._count = 0
        self._buffer: io.BytesIO | None = None
        self._hash: Any = None
        self._size = 0
        self._skipping = False
        if request is not None:
            request.intake_upload_problems = self.problems  # type: ignore[attr-defined]

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self._count += 1
        self._size = 0
        self._skipping = False
        if self._count > self.limits.max_files:
            self.problems.too_many = True
            self._buffer = None
            self._skipping = True
            raise SkipFile
        self._buffer = io.BytesIO()
        self._hash = crypto.digest_stream()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self._skipping or self._buffer is None:
            return None
        self._size += len(raw_data)
        if self._size > self.limits.max_file_bytes:
            self.problems.too_large.append(self.file_name or "")
            self._buffer = None
            self._skipping = True
            raise SkipFile
        self._buffer.write(raw_data)
        self._hash.update(raw_data)
        return None  # consumed: no later handler (and so no temporary file) sees the bytes

    def file_complete(self, file_size: int) -> HashedMemoryFile | None:
        if self._skipping or self._buffer is None:
            return None
        self._buffer.seek(0)
        upload = HashedMemoryFile(
            file=self._buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type="application/octet-stream",  # the sender's claim is ignored
            size=file_size,
            charset=None,
            content_type_extra=None,
        )
        upload.sha256 = self._hash.hexdigest()
        self._buffer = None
        return upload
