"""`python -m bench evidence`: vault ingest of a large file against `openssl dgst -sha256` plus `cp`.

The reference is what any honest store must do at least once — hash the original, write a copy — timed on
the same file, on the same filesystem, in the same run. The ingest additionally encrypts every chunk in a
real key agent (a separate process, reached over its socket), hashes every sealed chunk and fsyncs; it runs
in a child process so its peak RSS is its own. `cp` does not fsync, so a second ratio against `cp` + `sync`
is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.util import row

TARGET_RATIO = 0.75
TARGET_RSS_MB = 64.0
_BLOCK = 8 * 1024 * 1024


def _generate(path: Path, size: int) -> None:
    """Incompressible content without paying for `size` bytes of os.urandom: one random block, each copy
    stamped with its own counter."""
    block = bytearray(os.urandom(_BLOCK))
    with path.open("wb") as fh:
        written = 0
        n = 0
        while written < size:
            block[:8] = n.to_bytes(8, "big")
            piece = block[: min(_BLOCK, size - written)]
            fh.write(piece)
            written += len(piece)
            n += 1


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _sync() -> float:
    t0 = time.perf_counter()
    os.sync()
    return time.perf_counter() - t0


def _child_ingest(socket_path: Path, vault_dir: Path, source: Path) -> int:
    """Runs in its own process: one ingest, then its wall time and peak RSS as JSON on stdout."""
    from kartoteka.lib import agent, vault

    with agent.AgentClient(socket_path) as client, source.open("rb") as fh:
        t0 = time.perf_counter()
        manifest = vault.vault_ingest(vault_dir, client, fh, actor="bench")
        seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "rss_mb": rss, "item": manifest.item_id, "sha256": manifest.sha256})
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench evidence")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2, help="best of N for each side")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where files go (a real disk)")
    parser.add_argument(
        "--child-ingest", nargs=3, metavar=("SOCKET", "VAULT", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child_ingest:
        sock, vault_dir, source = (Path(p) for p in args.child_ingest)
        return _child_ingest(sock, vault_dir, source)

    from kartoteka.lib import agent, keys, vault

    if shutil.which("openssl") is None:
        print("openssl not found", file=sys.stderr)
        return 1
    size = args.size_mb * 1024 * 1024
    base = Path(tempfile.mkdtemp(prefix="kartoteka-evidence-bench-", dir=args.dir))
    try:
        keys_dir, demo_key, sock = base / "keys", base / "demo.key", base / "run" / "agent.sock"
        keys.init(keys_dir, None, demo_key_file=demo_key)
        proc = agent.spawn(keys_dir, sock, demo_key_file=demo_key)
        try:
            source = base / "source.bin"
            _generate(source, size)
            _timed(["cat", str(source)])  # into the page cache, as for every timed run below
            _sync()
            dgst, copy, copy_sync, ingest, rss = [], [], [], [], []
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
            for _ in range(args.rounds):
                dgst.append(_timed(["openssl", "dgst", "-sha256", str(source)]))
                copy.append(_timed(["cp", str(source), str(base / "copy.bin")]))
                copy_sync.append(copy[-1] + _sync())
                (base / "copy.bin").unlink()
                _sync()
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.evidence_bench",
                        "--child-ingest",
                        str(sock),
                        str(base / "vault"),
                        str(source),
                    ],
                    check=True,
                    capture_output=True,
                    env=env,
                ).stdout
                result = json.loads(out)
                ingest.append(float(result["seconds"]))
                rss.append(float(result["rss_mb"]))
                t0 = time.perf_counter()
                report = vault.vault_verify(base / "vault", result["item"])
                verify_s = time.perf_counter() - t0
                if not report.ok:
                    raise SystemExit(f"verify failed: {report.problem}")
                shutil.rmtree(base / "vault")
                _sync()
        finally:
            agent.stop(sock)
            proc.wait(timeout=10)
        ref, ref_sync, best = min(dgst) + min(copy), min(dgst) + min(copy_sync), min(ingest)
        mb = size / 1024 / 1024
        print(f"evidence vault ingest of {mb:.0f} MiB (best of {args.rounds}), files under {args.dir}")
        row("openssl dgst -sha256", min(dgst), "s", f"{mb / min(dgst):.0f} MiB/s")
        row("cp", min(copy), "s", f"{mb / min(copy):.0f} MiB/s")
        row("cp + sync", min(copy_sync), "s")
        row("vault ingest (agent, fsync)", best, "s", f"{mb / best:.0f} MiB/s  all: {ingest}")
        row("vault verify, keyless re-hash", verify_s, "s")
        ratio, ratio_sync = ref / best, ref_sync / best
        row("throughput ratio vs dgst + cp", ratio, "x", f"target >= {TARGET_RATIO}")
        row("throughput ratio vs dgst + cp + sync", ratio_sync, "x")
        row("ingest peak RSS", max(rss), "MB", f"target <= {TARGET_RSS_MB:.0f}")
        ok = ratio >= TARGET_RATIO and max(rss) <= TARGET_RSS_MB
        print("PASS" if ok else "MISS")
        return 0 if ok else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
