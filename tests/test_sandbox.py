"""Hostile files: type detection, harmless names, and the parsing sandbox (isolation, bombs, clean-up)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from kartoteka.lib import filetypes, sandbox

GIB = 1024 * 1024 * 1024


# --- building hostile files --------------------------------------------------------------------------------


def _deflated_zeros(total: int) -> tuple[bytes, int]:
    """Raw DEFLATE of ``total`` zero bytes and their CRC-32, built without compressing ``total`` bytes:
    after a full flush the compressor's state is reset, so every further MiB of zeros compresses to the
    same bytes, which are repeated."""
    mib = 1024 * 1024
    assert total % mib == 0 and total >= 3 * mib
    zero = bytes(mib)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    second = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    third = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    assert second == third  # the repetition the construction relies on
    stream = first + second * (total // mib - 1) + c.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(total // mib):
        crc = zlib.crc32(zero, crc)
    return stream, crc


def _zip_of_zeros(total: int, *, names: int = 1) -> bytes:
    """A ZIP whose one compressed stream of ``total`` zeros is referenced by ``names`` central-directory
    entries (Fifield's overlapping construction when names > 1)."""
    stream, crc = _deflated_zeros(total)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream), total, 9, 0)
    body = local + b"zeros.bin" + stream
    central = b""
    for i in range(names):
        name = b"zeros.bin" if i == 0 else f"zeros{i:04d}".encode()[:9]
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(stream), total, 9, 0, 0, 0, 0, 0, 0
        )
        central += name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, names, names, len(central), len(body), 0)
    return body + central + end


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _jpeg_with_exif() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x0131] = "SecretSoftware"  # Software
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


@pytest.fixture
def shm_clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A private tmpfs root per test, so parallel test processes cannot see each other's scratch dirs.
    root = Path(tempfile.mkdtemp(prefix="kartoteka-test-shm-", dir=sandbox.SCRATCH_ROOT))
    root.chmod(0o711)
    monkeypatch.setattr(sandbox, "SCRATCH_ROOT", root)
    try:
        yield
        left = [p.name for p in root.iterdir()]
        assert not left, f"a sandbox scratch directory was left behind: {left}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- file types and names ----------------------------------------------------------------------------------


def test_it_turns_hostile_filenames_into_harmless_labels() -> None:
    for hostile in ("../../etc/passwd", "..\\..\\windows\\system32\\cmd.exe", "/etc/passwd", "a/../../b"):
        label = filetypes.safe_display_name(hostile)
        assert "/" not in label and "\\" not in label and not label.startswith(".")
        assert label in {"passwd", "cmd.exe", "b"}
    assert filetypes.safe_display_name("..") == "file"
    assert filetypes.safe_display_name("") == "file"
    assert filetypes.safe_display_name("photo\u202egpj.exe") == "photogpj.exe"  # no direction override
    assert filetypes.safe_display_name("x\x00y\nz.pdf") == "xyz.pdf"
    long = filetypes.safe_display_name("а" * 300 + ".jpeg")
    assert len(long) <= filetypes.MAX_DISPLAY_NAME and long.endswith(".jpeg")


def _office(kind: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if kind == "odt":
            zf.writestr(
                "mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED
            )
            zf.writestr("content.xml", "<office:document-content/>")
        else:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml" if kind == "docx" else "xl/workbook.xml", "<x/>")
    return buf.getvalue()


def _image(fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: _image("JPEG"), "jpeg"),
        (lambda: _image("PNG"), "png"),
        (lambda: _image("GIF"), "gif"),
        (lambda: _image("WEBP"), "webp"),
        (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf"),
        (lambda: b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2mp41", "mp4"),
        (lambda: b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "mov"),
        (lambda: b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom", "m4a"),
        (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
        (lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (lambda: b"\xff\xfb\x90\x64" + bytes(100), "mp3"),
        (lambda: b"OggS\x00\x02" + bytes(20), "ogg"),
        (lambda: b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (lambda: _office("docx"), "docx"),
        (lambda: _office("xlsx"), "xlsx"),
        (lambda: _office("odt"), "odt"),
        (lambda: "Его обещали отпустить через полгода.\n".encode(), "txt"),
        (lambda: "Его обещали отпустить через полгода.\n".encode("cp1251"), "txt"),
    ],
)
def test_it_detects_allowed_types_by_their_first_bytes(make: object, expected: str) -> None:
    data = make()  # type: ignore[operator]
    assert filetypes.detect(io.BytesIO(data)).name == expected


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00\x00\x00",  # Windows executable
        b"\x7fELF\x02\x01\x01\x00" + bytes(50),  # Linux executable
        b"",
        b"PK\x03\x04 not really a zip",
        b"Rar!\x1a\x07\x00",
    ],
)
def test_it_refuses_other_files_with_a_clear_message(data: bytes) -> None:
    with pytest.raises(filetypes.FileTypeRefused) as caught:
        filetypes.detect(io.BytesIO(data))
    assert "Accepted:" in str(caught.value)


def test_it_accepts_plain_archives_only_into_the_vault() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    with pytest.raises(filetypes.FileTypeRefused, match="ZIP"):
        filetypes.detect(buf)
    assert filetypes.detect(buf, allowed=filetypes.VAULT_ALLOWED).name == "zip"


# --- bombs -------------------------------------------------------------------------------------------------


def test_it_builds_the_test_bombs_faithfully() -> None:
    small = _zip_of_zeros(4 * 1024 * 1024)
    with zipfile.ZipFile(io.BytesIO(small)) as zf:
        assert zf.testzip() is None and zf.read("zeros.bin") == bytes(4 * 1024 * 1024)


@pytest.mark.parametrize("names", [1, 10])
def test_it_refuses_zip_bombs_without_inflating(shm_clean: None, names: int) -> None:
    bomb = _zip_of_zeros(GIB, names=names)
    ratio = names * GIB / len(bomb)
    assert ratio > (10_000 if names == 10 else 1_000)
    t0 = time.monotonic()
    result = sandbox.sandbox_run(
        "archive_list",
        bomb,
        filetype="zip",
        extension=".zip",
        limits=sandbox.Limits(memory_bytes=256 * 2**20),
    )
    assert time.monotonic() - t0 < 20  # inflating 1-10 GiB under 256 MiB of address space is impossible
    assert not result.ok and result.refusal is not None
    assert "decompression bomb" in result.refusal and "Nothing was extracted" in result.refusal
    assert f"{ratio:,.0f}:1" in result.refusal


def test_it_refuses_overlapping_entries_even_under_the_ratio_limit(shm_clean: None) -> None:
    bomb = _zip_of_zeros(4 * 1024 * 1024, names=3)
    result = sandbox.sandbox_run(
        "archive_list", bomb, extension=".zip", limits=sandbox.Limits(zip_max_ratio=100_000)
    )
    assert not result.ok and result.refusal is not None and "overlap" in result.refusal


def test_it_lists_an_ordinary_archive(shm_clean: None) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../etc/passwd", os.urandom(2000))
        zf.writestr("notes.txt", "Обещали 200 000 рублей.")
    result = sandbox.sandbox_run("archive_list", buf.getvalue(), extension=".zip")
    assert result.ok, result.refusal
    assert [e["name"] for e in result.info["listing"]] == ["passwd", "notes.txt"]


@pytest.mark.parametrize("task", ["image_info", "thumbnail", "strip_metadata"])
def test_it_refuses_a_decompression_bomb_image(shm_clean: None, task: str) -> None:
    result = sandbox.sandbox_run(task, _png_claiming(100_000, 100_000), filetype="png", extension=".png")
    assert not result.ok and result.refusal is not None
    assert "decompression bomb" in result.refusal and "not decoded" in result.refusal


def test_it_makes_thumbnails_and_stripped_copies_without_metadata(shm_clean: None) -> None:
    from PIL import Image

    original = _jpeg_with_exif()
    assert b"SecretCameraMaker" in original
    thumb = sandbox.sandbox_run("thumbnail", original, filetype="jpeg", extension=".jpg")
    assert thumb.ok, thumb.refusal
    with Image.open(io.BytesIO(thumb.files["thumbnail"])) as im:
        assert im.format == "PNG" and max(im.size) <= 512 and not im.getexif()
    stripped = sandbox.sandbox_run("strip_metadata", original, filetype="jpeg", extension=".jpg")
    assert stripped.ok, stripped.refusal
    assert stripped.info["tool"] in {"mat2", "pillow"}
    assert b"SecretCameraMaker" not in stripped.files["stripped"]
    with Image.open(io.BytesIO(stripped.files["stripped"])) as im:
        assert im.size == (64, 48) and not im.getexif()


# --- isolation ---------------------------------------------------------------------------------------------


def test_it_gives_the_parser_no_keys_no_agent_and_no_network(shm_clean: None, agent_ready: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # reachable from here, so a refusal inside the sandbox is the sandbox's doing
        os.environ["KARTOTEKA_TEST_SECRET"] = "must-not-reach-the-child"
        params = {
            "unix": [str(agent_ready)],
            "tcp": [["127.0.0.1", 5432], ["127.0.0.1", port]],
            "read": [str(agent_ready.parent)],
        }
        hidden = sandbox.sandbox_run("probe", params=params, hide=[agent_ready.parent])
        exposed = sandbox.sandbox_run("probe", params=params)  # without the mount: uid and modes alone
    finally:
        os.environ.pop("KARTOTEKA_TEST_SECRET", None)
        listener.close()
    for result in (hidden, exposed):
        info = result.info
        assert result.ok
        assert info["unix"][str(agent_ready)].startswith("refused")
        assert all(v.startswith("refused") for v in info["tcp"].values()), info["tcp"]
        assert not any(k.startswith(("KARTOTEKA", "DATABASE", "DJANGO")) for k in info["env"])
        assert set(info["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG"}
        assert info["fds"] == [0, 1, 2, 3]  # 3 is the listing of /proc/self/fd itself
        assert info["limits"]["as"] > 0 and info["limits"]["nofile"] <= 64
        if os.geteuid() == 0:
            assert info["uid"] == sandbox.NOBODY and info["gid"] == sandbox.NOBODY and info["groups"] == []
    assert hidden.info["unix"][str(agent_ready)] != "connected"


def test_it_stops_a_parser_at_the_wall_clock_limit(shm_clean: None) -> None:
    t0 = time.monotonic()
    result = sandbox.sandbox_run("probe", params={"sleep": 30}, limits=sandbox.Limits(wall_seconds=0.5))
    assert time.monotonic() - t0 < 5
    assert not result.ok and result.refusal is not None and "too long" in result.refusal
