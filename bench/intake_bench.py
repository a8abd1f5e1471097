"""`python -m bench intake`: the public form under a steady load and under a bounded flood.

Runs `kartoteka serve` on 127.0.0.1 only (embedded default, SQLite, demo keys in a throw-away directory)
and posts multipart reports the way a browser with JavaScript off does. Steady: an open-loop schedule of
``--rate`` submissions per second for ``--seconds``; p50/p99 latency of the receipt (which is sent only
after the sealed submission is committed with a synced WAL). Flood: ``--flood`` submissions as fast as
``--concurrency`` clients can send them, while a probe times /healthz; every answer must be a receipt
(then stored) or a refusal that says it was not saved, and the stored count must equal the receipts.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.util import percentile, row

TARGET_P99_MS = 250.0
_BOUNDARY = "kartotekabench" + secrets.token_hex(8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(i: int) -> bytes:
    fields = {
        "relationship": "mother",
        "person_name": f"Иванов Пётр {i}",
        "birth_year": "1985",
        "facility": "ИК-2, Свердловская область",
        "categories": "beating",
        "what_text": "Избили после отказа подписать контракт. " * 20,
        "when": "весна 2023",
        "promised": "200 тысяч в месяц",
        "became": "ничего",
    }
    parts = []
    for name, value in fields.items():
        parts.append(f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
    out = "".join(parts).encode()
    out += (
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="note.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    out += ("Свидетельство, строка текста.\n" * 300).encode() + b"\r\n"
    return out + f"--{_BOUNDARY}--\r\n".encode()


def _post(port: int, body: bytes) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            "/report/?lang=ru",
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"},
        )
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, text, time.perf_counter() - t0
    except OSError as exc:
        return 0, type(exc).__name__, time.perf_counter() - t0
    finally:
        conn.close()


def _classify(status: int, text: str) -> str:
    if status == 200 and 'id="codename"' in text:
        return "stored"
    if status in (429, 503) and "НЕ сохранено" in text:
        return "refused"
    return "error"


def _health(port: int) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/healthz")
        conn.getresponse().read()
    finally:
        conn.close()
    return time.perf_counter() - t0


def _stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM intake_submission").fetchone()[0])


def _start(
    data_dir: Path, port: int, workers: int, rate_per_minute: int, burst: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KARTOTEKA_DATA_DIR": str(data_dir),
        "KARTOTEKA_DEMO": "1",
        "KARTOTEKA_SECRET_KEY": secrets.token_hex(32),
        "KARTOTEKA_AUDIT_HEAD_FILE": str(data_dir / "audit-head"),
        "KARTOTEKA_INTAKE_RATE_PER_MINUTE": str(rate_per_minute),
        "KARTOTEKA_INTAKE_BURST": str(burst),
        "KARTOTEKA_INTAKE_QUOTA_MB": "4096",
    }
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    py = [sys.executable, "-m", "kartoteka.cli"]
    subprocess.run([*py, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    from kartoteka.lib import keys

    keys.init(data_dir / "keys", None, demo_key_file=data_dir / "demo.key")  # recovery recipient only
    proc = subprocess.Popen(
        [*py, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _health(port)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not start")


def steady(port: int, rate: float, seconds: float) -> tuple[list[float], dict[str, int]]:
    """Open loop: request i leaves at i / rate seconds whatever the earlier ones do. Returns every
    request's latency and how many were stored, refused or otherwise answered."""
    total = int(rate * seconds)
    body = _body(0)
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        status, text, took = _post(port, body)
        with lock:
            latencies.append(took)
            kind = _classify(status, text)
            kinds[kind] = kinds.get(kind, 0) + 1

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(one, range(total)))
    return latencies, kinds


def flood(port: int, count: int, concurrency: int) -> tuple[dict[str, int], float, float]:
    body = _body(1)
    kinds: dict[str, int] = {}
    lock = threading.Lock()
    probes: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            try:
                probes.append(_health(port))
            except OSError:
                probes.append(float("inf"))
            time.sleep(0.5)

    def one(_: int) -> None:
        status, text, _took = _post(port, body)
        with lock:
            kind = _classify(status, text)
            kinds[kind] = kinds.get(kind, 0) + 1

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - t0
    done.set()
    prober.join()
    return kinds, elapsed, max(probes) if probes else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench intake")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=3)
    # The application's defaults: 3 workers x 600/min admit 30/s, so a steady 20/s is served in full (a
    # submission refused at that rate fails the bench) and the flood is mostly refused.
    parser.add_argument("--rate-per-minute", type=int, default=600, help="token bucket, per worker")
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kartoteka-intake-bench-") as tmp:
        data_dir = Path(tmp)
        port = _free_port()
        proc = _start(data_dir, port, args.workers, args.rate_per_minute, args.burst)
        try:
            print(f"intake bench: {args.workers} workers on 127.0.0.1:{port}, SQLite, synced commits")
            latencies, steady_kinds = steady(port, args.rate, args.seconds)
            p99 = percentile(latencies, 99) * 1000
            served = steady_kinds.get("stored", 0) == len(latencies)
            row(
                "steady: stored of sent",
                steady_kinds.get("stored", 0),
                "",
                f"of {len(latencies)}: {'OK' if served else f'MISSED {steady_kinds}'}",
            )
            row(f"steady {args.rate:g}/s for {args.seconds:g} s: p50", percentile(latencies, 50) * 1000, "ms")
            row(
                "steady: p99",
                p99,
                "ms",
                f"target <= {TARGET_P99_MS:g}: {'OK' if p99 <= TARGET_P99_MS else 'MISSED'}",
            )
            before = _stored(data_dir / "kartoteka.sqlite3")
            kinds, elapsed, worst_probe = flood(port, args.flood, args.concurrency)
            stored = _stored(data_dir / "kartoteka.sqlite3") - before
            row(f"flood of {args.flood}: receipts", kinds.get("stored", 0), "")
            row("flood: refused and told so", kinds.get("refused", 0), "")
            row("flood: other answers (must be 0)", kinds.get("error", 0), "")
            row(
                "flood: stored rows == receipts",
                stored,
                "",
                "OK" if stored == kinds.get("stored", 0) else "MISMATCH",
            )
            row("flood: wall time", elapsed, "s")
            row("flood: worst /healthz latency during flood", worst_probe * 1000, "ms")
            ok = (
                served
                and p99 <= TARGET_P99_MS
                and kinds.get("error", 0) == 0
                and stored == kinds.get("stored", 0)
            )
        finally:
            proc.terminate()
            proc.wait(30)
    return 0 if ok else 1
