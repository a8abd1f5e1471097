"""Parse hostile files in a subprocess that holds nothing worth stealing and can reach nothing.

Every parser of uploaded evidence (metadata stripping with mat2, thumbnails with Pillow, archive
listing) runs through :func:`sandbox_run`, which starts ``python -I -m kartoteka.lib.sandbox --child`` under
``unshare --net --mount`` (``--user --map-root-user`` too when not root) with:

* **no keys**: a cleared environment (no ``KARTOTEKA_*``, no ``DATABASE_URL``), only fds 0-2 open, and the
  directories named in ``hide`` (the key agent's socket directory, the key and vault directories) covered
  by an empty read-only tmpfs in the child's own mount namespace. As root the child also drops to uid/gid
  65534 before it reads a byte of input, so the socket directory's 0700 mode and the agent's peer-uid
  check refuse it as well;
* **no network**: a new network namespace whose only interface (``lo``) is down;
* **resource limits**: RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE (and RLIMIT_NPROC once it runs
  as 65534), no core dumps, ``no_new_privs``, and a wall-clock timeout that kills its process group;
* **an in-memory scratch directory**: a fresh 0700 directory under ``/dev/shm`` (tmpfs) holding the input
  and the outputs, overwritten and removed afterwards whatever happened.

Bomb limits are checked before any decompression: a ZIP is judged from its central directory alone
(entry count, declared total, per-entry and whole-archive expansion ratio, overlapping entries) and never
extracted; Pillow refuses images over ``max_image_pixels`` (its warning band is turned into an error).

The child starts as the caller's user so the interpreter and libraries load (the interpreter may live
somewhere 65534 cannot read), mounts, sets limits, imports every module a task needs, and only then drops
privileges and opens the input. No Django here; stdlib only at import time.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import itertools
import json
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCRATCH_ROOT = Path("/dev/shm")  # noqa: S108 - tmpfs on purpose; each run makes its own 0700 dir
NOBODY = 65534
TASKS = ("probe", "image_info", "thumbnail", "strip_metadata", "archive_list")
IMAGE_TYPES = frozenset({"jpeg", "png", "gif", "webp"})
OUTPUT_DIR = "out"
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_PR_SET_NO_NEW_PRIVS = 38
_MAX_STDOUT = 16 * 1024 * 1024


class SandboxError(Exception):
    """The sandbox itself could not run (no namespace support, a crash of our own code): fail closed."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 30
    file_bytes: int = 512 * 1024 * 1024
    open_files: int = 64
    processes: int = 32
    wall_seconds: float = 60.0
    max_image_pixels: int = 50_000_000
    thumbnail_pixels: int = 512
    zip_max_entries: int = 10_000
    zip_max_total_bytes: int = 1024 * 1024 * 1024
    zip_max_ratio: int = 100


@dataclass(frozen=True)
class SandboxResult:
    task: str
    ok: bool
    info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # outputs by name, e.g. "stripped", "thumbnail"
    refusal: str | None = None  # a message for staff when ok is False


# --- the parent side ---------------------------------------------------------------------------------------


def _unshare_prefix(as_root: bool) -> list[str]:
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    if not Path(unshare).exists():
        raise SandboxError("the `unshare` tool (util-linux) is missing; hostile files cannot be parsed here")
    if as_root:
        return [unshare, "--net", "--mount", "--propagation", "private", "--"]
    return [unshare, "--user", "--map-root-user", "--net", "--mount", "--propagation", "private", "--"]


def _scratch_new(owner: int | None) -> Path:
    path = SCRATCH_ROOT / f"kartoteka-sandbox-{secrets.token_hex(8)}"
    path.mkdir(mode=0o700)
    (path / OUTPUT_DIR).mkdir(mode=0o700)
    if owner is not None:
        for p in (path, path / OUTPUT_DIR):
            os.chown(p, owner, owner)
    return path


def _wipe(path: Path) -> None:
    """Overwrite then remove everything under ``path``: tmpfs pages go back to the kernel zeroed by us,
    not whenever it reuses them."""
    for dirpath, _dirs, files in os.walk(path, topdown=False):
        for name in files:
            p = Path(dirpath) / name
            with contextlib.suppress(OSError):
                st = p.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_size:
                    fd = os.open(p, os.O_WRONLY | os.O_NOFOLLOW)
                    try:
                        zeros = bytes(min(st.st_size, 1024 * 1024))
                        left = st.st_size
                        while left > 0:
                            left -= os.write(fd, zeros[: min(left, len(zeros))])
                    finally:
                        os.close(fd)
    shutil.rmtree(path, ignore_errors=True)


def _write_input(scratch: Path, name: str, source: bytes | Iterable[bytes], owner: int | None) -> None:
    path = scratch / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        pieces: Iterable[bytes] = [source] if isinstance(source, bytes) else source
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
        if owner is not None:
            os.fchown(fd, owner, owner)
        os.fchmod(fd, 0o400)
    finally:
        os.close(fd)


def _read_outputs(scratch: Path, names: Sequence[str], limit: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    base = scratch / OUTPUT_DIR
    for name in names:
        p = base / name
        # The child chose these names: accept plain files directly in out/ only, never a link.
        if "/" in name or name.startswith(".") or not p.is_file() or p.is_symlink():
            continue
        if p.stat().st_size > limit:
            continue
        out[name] = p.read_bytes()
    return out


def _refusal_for_exit(code: int, stderr: bytes) -> str:
    if code == -signal.SIGXCPU or code == -signal.SIGKILL:
        return "Refused: processing this file used more CPU time than allowed."
    if code == -signal.SIGXFSZ:
        return "Refused: processing this file produced more output than allowed."
    if b"MemoryError" in stderr:
        return "Refused: processing this file needed more memory than allowed."
    return "Refused: the file could not be processed safely (the parser failed)."


def sandbox_run(
    task: str,
    source: bytes | Iterable[bytes] | None = None,
    *,
    filetype: str = "bin",
    extension: str = ".bin",
    params: dict[str, Any] | None = None,
    limits: Limits = Limits(),
    hide: Sequence[Path] = (),
) -> SandboxResult:
    """Run one parsing ``task`` on ``source`` (bytes, or chunks as :func:`vault.vault_read` yields them)
    in an isolated child. ``filetype`` and ``extension`` come from :mod:`kartoteka.lib.filetypes`, never
    from the upload's name. Returns the child's result, or a refusal for a bomb, a limit or a timeout;
    raises :class:`SandboxError` when isolation itself is unavailable."""
    if task not in TASKS:
        raise SandboxError("unknown sandbox task")
    if not extension.startswith(".") or not extension[1:].isalnum() or len(extension) > 10:
        raise SandboxError("bad extension")
    as_root = os.geteuid() == 0
    owner = NOBODY if as_root else None
    scratch = _scratch_new(owner)
    try:
        input_name = "input" + extension
        if source is not None:
            _write_input(scratch, input_name, source, owner)
        request = {
            "task": task,
            "filetype": filetype,
            "input": input_name if source is not None else None,
            "scratch": str(scratch),
            "params": params or {},
            "limits": asdict(limits),
            "hide": [str(Path(p).resolve()) for p in hide],
            "drop_to": NOBODY if as_root else None,
        }
        cmd = [*_unshare_prefix(as_root), sys.executable, "-I", "-m", "kartoteka.lib.sandbox", "--child"]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8"}
        proc = subprocess.Popen(  # noqa: S603 - fixed argv: our interpreter, our module
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(scratch),
            close_fds=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(json.dumps(request).encode(), timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return SandboxResult(task, False, refusal="Refused: processing this file took too long.")
        if b"unshare failed" in err or b"unshare:" in err[:200]:
            raise SandboxError("cannot isolate the parser (namespaces unavailable); refusing to parse")
        if proc.returncode != 0 or len(out) > _MAX_STDOUT:
            if b"kartoteka-sandbox-setup-failed" in err:
                raise SandboxError("the sandbox could not be set up; refusing to parse")
            return SandboxResult(task, False, refusal=_refusal_for_exit(proc.returncode, err))
        try:
            reply = json.loads(out)
        except ValueError:
            return SandboxResult(task, False, refusal="Refused: the parser returned nothing usable.")
        files = _read_outputs(scratch, [str(n) for n in reply.get("files", [])], limits.file_bytes)
        return SandboxResult(
            task=task,
            ok=bool(reply.get("ok")),
            info=dict(reply.get("info") or {}),
            files=files,
            refusal=reply.get("refusal"),
        )
    finally:
        _wipe(scratch)


# --- the child side ----------------------------------------------------------------------------------------


class _Refused(Exception):
    """A file the child will not process; the message goes to staff as is."""


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _hide(paths: Sequence[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    for p in paths:
        if not os.path.isdir(p):
            continue
        if libc.mount(b"tmpfs", p.encode(), b"tmpfs", flags, b"size=4k,mode=000") != 0:
            raise OSError(ctypes.get_errno(), f"cannot hide {p}")


def _set_limits(limits: dict[str, Any], dropping: bool) -> None:
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (int(limits["memory_bytes"]),) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limits["file_bytes"]),) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2)
    if dropping:  # counted per uid, so only meaningful once we are 65534
        resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["processes"]),) * 2)


def _preload() -> None:
    """Import everything a task may need while the interpreter's files are still readable."""
    import socket  # noqa: F401
    import warnings  # noqa: F401
    import zipfile  # noqa: F401

    import kartoteka.lib.filetypes  # noqa: F401

    for encoding in ("cp437", "cp1251", "cp866", "koi8_r", "latin_1", "ascii", "utf_8", "utf_16", "idna"):
        codecs.lookup(encoding)  # codecs load lazily; ZIP names, for one, decode as cp437

    with contextlib.suppress(ImportError):
        from PIL import Image

        Image.init()  # loads every format plugin now


def _drop(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("privilege drop failed")


def _no_new_privs() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def _pillow_open(path: Path, max_pixels: int) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise _Refused("Image processing is not installed (Pillow); the file was not opened.") from None
    import warnings

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Refused(
            f"Refused: the image claims more than {max_pixels:,} pixels (a decompression bomb?). "
            "It was not decoded."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise _Refused(f"Refused: not a readable image ({type(exc).__name__}).") from None


def _task_probe(req: dict[str, Any], path: Path | None, out: Path) -> dict[str, Any]:
    """What the child can see and reach: for `kartoteka` self-checks and the tests."""
    import socket

    def attempt(family: int, address: Any) -> str:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2.0)
                s.connect(address)
        except OSError as exc:
            return f"refused: {exc.strerror or type(exc).__name__}"
        return "connected"

    params = req["params"]
    if params.get("sleep"):  # lets a self-check prove that the wall-clock limit kills the child
        time.sleep(float(params["sleep"]))
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "env": sorted(os.environ),
        "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
        "unix": {p: attempt(socket.AF_UNIX, p) for p in params.get("unix", [])},
        "tcp": {f"{h}:{p}": attempt(socket.AF_INET, (h, int(p))) for h, p in params.get("tcp", [])},
        "readable": {p: os.access(p, os.R_OK) for p in params.get("read", [])},
        "limits": {
            "as": resource.getrlimit(resource.RLIMIT_AS)[0],
            "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
            "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        },
    }


def _task_image_info(req: dict[str, Any], path: Path | None, out: Path) -> dict[str, Any]:
    if path is None:
        raise _Refused("no input")
    with _pillow_open(path, int(req["limits"]["max_image_pixels"])) as im:
        return {"format": im.format, "width": im.size[0], "height": im.size[1], "mode": im.mode}


def _task_thumbnail(req: dict[str, Any], path: Path | None, out: Path) -> dict[str, Any]:
    if path is None:
        raise _Refused("no input")
    side = int(req["limits"]["thumbnail_pixels"])
    with _pillow_open(path, int(req["limits"]["max_image_pixels"])) as im:
        im.draft("RGB", (side, side))
        im.thumbnail((side, side))
        thumb = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        thumb.save(out / "thumbnail", format="PNG")  # a new image: no EXIF, no GPS, no text chunks
        return {"width": thumb.size[0], "height": thumb.size[1], "_files": ["thumbnail"]}


def _task_strip_metadata(req: dict[str, Any], path: Path | None, out: Path) -> dict[str, Any]:
    if path is None:
        raise _Refused("no input")
    kind = req["filetype"]
    if kind in IMAGE_TYPES:
        _task_image_info(req, path, out)  # the pixel limit first: mat2's image loaders have none
    mat2 = shutil.which("mat2")
    if mat2:
        result = subprocess.run(  # noqa: S603 - fixed tool, our own file name
            [mat2, "--", str(path)], capture_output=True, timeout=float(req["limits"]["wall_seconds"])
        )
        cleaned = path.with_name(path.stem + ".cleaned" + path.suffix)
        if result.returncode == 0 and cleaned.is_file():
            cleaned.rename(out / "stripped")
            return {"tool": "mat2", "_files": ["stripped"]}
    if kind in IMAGE_TYPES:
        with _pillow_open(path, int(req["limits"]["max_image_pixels"])) as im:
            im.load()
            clean = im.copy()  # pixels only: the copy carries no EXIF, XMP or comments
            save_as = "PNG" if kind in {"png", "gif"} else ("WEBP" if kind == "webp" else "JPEG")
            if save_as == "JPEG" and clean.mode not in ("RGB", "L"):
                clean = clean.convert("RGB")
            clean.save(out / "stripped", format=save_as, quality=95)
            return {"tool": "pillow", "_files": ["stripped"]}
    raise _Refused(
        "Metadata cannot be stripped from this type of file here (mat2 is not installed or failed)."
    )


def _task_archive_list(req: dict[str, Any], path: Path | None, out: Path) -> dict[str, Any]:
    """List a ZIP from its central directory; refuse bombs before anything is inflated."""
    import zipfile

    from kartoteka.lib.filetypes import safe_display_name

    if path is None:
        raise _Refused("no input")
    lim = req["limits"]
    archive_size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        raise _Refused("Refused: this archive is damaged or not a ZIP file.") from None
    if len(infos) > int(lim["zip_max_entries"]):
        raise _Refused(
            f"Refused: the archive has {len(infos):,} entries; the limit is {lim['zip_max_entries']:,}."
        )
    ratio_limit = int(lim["zip_max_ratio"])
    total = sum(i.file_size for i in infos)
    overall = total / max(archive_size, 1)
    cap = _human(int(lim["zip_max_total_bytes"]))
    refusal_tail = f"the limits are {ratio_limit}:1 and {cap} in all. Nothing was extracted."
    if overall > ratio_limit or total > int(lim["zip_max_total_bytes"]):
        raise _Refused(
            f"Refused: this archive would expand to {_human(total)} from {_human(archive_size)} "
            f"(about {overall:,.0f}:1), a decompression bomb; " + refusal_tail
        )
    spans = sorted(
        (i.header_offset, i.header_offset + 30 + len(i.filename.encode()) + i.compress_size) for i in infos
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise _Refused(
                "Refused: entries in this archive overlap (a zip-bomb construction). Nothing was extracted."
            )
    for n, info in enumerate(infos):
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > ratio_limit:
            raise _Refused(
                f"Refused: entry {n + 1} would expand {ratio:,.0f}:1 ({_human(info.file_size)}); "
                + refusal_tail
            )
    return {
        "entries": len(infos),
        "total_bytes": total,
        "archive_bytes": archive_size,
        "listing": [
            {"name": safe_display_name(i.filename), "size": i.file_size, "compressed": i.compress_size}
            for i in infos[:1000]
        ],
    }


_TASK_FUNCS = {
    "probe": _task_probe,
    "image_info": _task_image_info,
    "thumbnail": _task_thumbnail,
    "strip_metadata": _task_strip_metadata,
    "archive_list": _task_archive_list,
}


def _child_main() -> int:
    try:
        req = json.loads(sys.stdin.buffer.read())
        _hide(req["hide"])
        drop_to = req["drop_to"]
        _set_limits(req["limits"], dropping=drop_to is not None)
        _preload()
        if drop_to is not None:
            _drop(int(drop_to))
        _no_new_privs()
    except Exception as exc:  # our own set-up failed: the parent must not treat this as a parse result
        print(f"kartoteka-sandbox-setup-failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    scratch = Path(req["scratch"])
    path = scratch / req["input"] if req["input"] else None
    try:
        info = _TASK_FUNCS[req["task"]](req, path, scratch / OUTPUT_DIR)
        files = info.pop("_files", [])
        reply: dict[str, Any] = {"ok": True, "info": info, "files": files}
    except _Refused as exc:
        reply = {"ok": False, "refusal": str(exc)}
    except MemoryError:
        reply = {"ok": False, "refusal": "Refused: processing this file needed more memory than allowed."}
    sys.stdout.write(json.dumps(reply))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        sys.exit(_child_main())
    sys.exit("usage: python -m kartoteka.lib.sandbox --child (started by sandbox_run only)")
