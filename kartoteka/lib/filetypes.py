"""What an uploaded file is, judged by its first bytes against an allowlist; and a harmless display name.

The extension and the browser's Content-Type are the sender's claims and are ignored. A file whose first
bytes match no allowed signature is refused with a message the reporter can act on. ZIP-based office
documents are told apart by reading only the archive's central directory (names, never contents, except
the few stored bytes of an OpenDocument ``mimetype`` entry). The original filename is never used to build
a path: :func:`safe_display_name` gives a label for screens only; storage uses random ids. No Django here.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import IO

HEAD_BYTES = 64 * 1024  # enough for every signature and for judging text
MAX_DISPLAY_NAME = 100
MAX_ZIP_ENTRIES = 10_000


@dataclass(frozen=True)
class FileType:
    name: str  # short, stable: "jpeg", "pdf", "docx", ...
    mime: str
    extension: str  # with the dot, for naming working copies (never taken from the upload)


class FileTypeRefused(ValueError):
    """The file is not of an accepted type; the message says so plainly and names no content."""


TYPES: dict[str, FileType] = {
    t.name: t
    for t in (
        FileType("jpeg", "image/jpeg", ".jpg"),
        FileType("png", "image/png", ".png"),
        FileType("gif", "image/gif", ".gif"),
        FileType("webp", "image/webp", ".webp"),
        FileType("heic", "image/heic", ".heic"),
        FileType("pdf", "application/pdf", ".pdf"),
        FileType("mp4", "video/mp4", ".mp4"),
        FileType("mov", "video/quicktime", ".mov"),
        FileType("m4a", "audio/mp4", ".m4a"),
        FileType("mp3", "audio/mpeg", ".mp3"),
        FileType("ogg", "audio/ogg", ".ogg"),
        FileType("wav", "audio/wav", ".wav"),
        FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
        FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
        FileType("odt", "application/vnd.oasis.opendocument.text", ".odt"),
        FileType("ods", "application/vnd.oasis.opendocument.spreadsheet", ".ods"),
        FileType("txt", "text/plain", ".txt"),
        FileType("zip", "application/zip", ".zip"),
    )
}
# Archives are accepted into the vault (staff may receive them) but not from the public form.
INTAKE_ALLOWED = frozenset(TYPES) - {"zip"}
VAULT_ALLOWED = frozenset(TYPES)

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ",
    b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"MSNV", b"f4v ",
}  # fmt: skip
_OLD_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_ODF_MIMES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
}
_TEXT_CONTROLS = set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def _refuse(what: str) -> FileTypeRefused:
    accepted = "photos (JPEG, PNG, GIF, WEBP, HEIC), PDF, video (MP4, MOV), audio (MP3, OGG, WAV, M4A), "
    accepted += "documents (DOCX, XLSX, ODT, ODS) and plain text"
    return FileTypeRefused(f"{what}. Accepted: {accepted}.")


def _mp3_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def _iso_media(head: bytes) -> str | None:
    if len(head) < 12:
        return None
    box = head[4:8]
    if box == b"ftyp":
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(len(head), 64), 4)}
        major = head[8:12]
        if major in _HEIC_BRANDS or (
            major not in _MP4_BRANDS | _MOV_BRANDS | _M4A_BRANDS and brands & _HEIC_BRANDS
        ):
            return "heic"
        if major in _M4A_BRANDS:
            return "m4a"
        if major in _MOV_BRANDS:
            return "mov"
        if major in _MP4_BRANDS or brands & _MP4_BRANDS:
            return "mp4"
        return None
    if box in _OLD_QUICKTIME_ATOMS:
        return "mov"
    return None


def _text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A sample may end inside a multi-byte character; anything else is not UTF-8.
        if exc.start < len(head) - 3:
            try:
                head.decode("cp1251")
            except UnicodeDecodeError:
                return False
    controls = sum(1 for b in head if b in _TEXT_CONTROLS)
    return controls <= len(head) // 100


def _zip_kind(fh: IO[bytes]) -> str:
    """docx / xlsx / odt / ods / zip, from the central directory alone."""
    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise _refuse("This archive has too many entries")
            names = {i.filename for i in infos}
            first = infos[0] if infos else None
            if (
                first is not None
                and first.filename == "mimetype"
                and first.compress_type == zipfile.ZIP_STORED
            ) and first.file_size <= 100:
                kind = _ODF_MIMES.get(zf.read(first).strip())
                if kind:
                    return kind
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return "docx"
                if "xl/workbook.xml" in names:
                    return "xlsx"
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError):
        raise _refuse("This file looks like an archive but is damaged") from None
    return "zip"


def detect(fh: IO[bytes], *, allowed: frozenset[str] = INTAKE_ALLOWED) -> FileType:
    """The type of a seekable file, or :class:`FileTypeRefused`. Reads the first bytes (and, for ZIP,
    the central directory); leaves the position at 0."""
    fh.seek(0)
    head = fh.read(HEAD_BYTES)
    fh.seek(0)
    name = detect_head(head)
    if name == "zip":
        name = _zip_kind(fh)
        fh.seek(0)
    if name not in allowed:
        raise _refuse(f"Files of type {name.upper()} are not accepted here")
    return TYPES[name]


def detect_head(head: bytes) -> str:
    """The type name from the first bytes alone ("zip" for every ZIP-based format)."""
    if not head:
        raise _refuse("The file is empty")
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or _mp3_frame(head):
        return "mp3"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    media = _iso_media(head)
    if media:
        return media
    if _text(head):
        return "txt"
    raise _refuse("This type of file is not accepted")


_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")


def safe_display_name(original: str | None, *, fallback: str = "file") -> str:
    """A label for showing an upload's name to staff: the last path component only, no control or
    direction-override characters, no leading dots, at most 100 characters (keeping a short extension).
    Never a path: storage uses random ids, and this label is only ever rendered as text."""
    if not original:
        return fallback
    name = unicodedata.normalize("NFC", str(original))
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_CHARS.sub("", name)
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip()
    if not name or set(name) <= {"."}:
        return fallback
    if len(name) > MAX_DISPLAY_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_DISPLAY_NAME - len(ext) - 2] + "…." + ext
        else:
            name = name[: MAX_DISPLAY_NAME - 1] + "…"
    return name
