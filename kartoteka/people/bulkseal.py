"""The sealing half of ``person_bulk_create``: name terms, seal inputs and the key agent's two round trips for
one batch, from compact tuples.

It imports no Django, so a large import can run it in a helper process on the other core while the
importing process only inserts (``services.person_bulk_create``): the importing process is single-threaded
Python (the GIL), and this half is about a third of its work. A small import runs the same function in
its own worker thread. The helper is a child of the importing process, under the same user; names reach
it through a pipe and stay in memory, as in the importing process and the agent.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
from array import array
from pathlib import Path
from typing import IO, Any

from kartoteka.lib import keys, names
from kartoteka.lib.agent import AgentClient, AgentError

RECORD_TABLE = "people.record"
NAME_PURPOSE = "people.record.name"

# (record id as an int, full name, aliases, birth date as EDTF text or "", notes)
Row = tuple[int, str, tuple[str, ...], str, str]
# Per row: wrapped data key, then the full name's, aliases', birth date's and notes' ciphertexts (or None).
Sealed = tuple[bytes, bytes, bytes | None, bytes | None, bytes | None]

_FIELDS = ("full_name", "aliases", "birth_date", "notes")


class Sealer:
    """One import's agent connection and caches: a name's terms (names recur) and a term's blind-index
    value (terms recur far more). Dropped with the import."""

    def __init__(self, agent: AgentClient) -> None:
        self.agent = agent
        self.name_terms: dict[str, list[str]] = {}
        self.term_values: dict[str, int] = {}

    def _terms(self, full_name: str, aliases: tuple[str, ...]) -> list[str]:
        if aliases:
            return names.record_terms(full_name, aliases)
        terms = self.name_terms.get(full_name)
        if terms is None:
            if len(self.name_terms) >= 100_000:
                self.name_terms.clear()
            terms = self.name_terms[full_name] = names.record_terms(full_name)
        return terms

    def seal(self, rows: list[Row]) -> tuple[list[Sealed], bytes, bytes]:
        """The sealed fields of each row, and its distinct blind-index values as two int64 arrays' bytes:
        per-row counts and the values end to end (cheap to send back from a helper process)."""
        if not rows:
            return [], b"", b""
        items = [
            keys.PlainRecord(RECORD_TABLE, _dashed(rid), _fields(full_name, aliases, edtf, notes))
            for rid, full_name, aliases, edtf, notes in rows
        ]
        row_terms = [self._terms(full_name, aliases) for _, full_name, aliases, _, _ in rows]
        known = self.term_values
        new = list(dict.fromkeys(t for terms in row_terms for t in terms if t not in known))
        sealed = self.agent.seal_records(items)
        if new:
            if len(known) >= 1_000_000:
                known.clear()
            known.update(zip(new, self.agent.blind_index(NAME_PURPOSE, new), strict=True))
        counts, flat = array("q"), array("q")
        for terms in row_terms:
            # Distinct terms; the set drops the (never seen) HMAC collision the (term, record) key would refuse.
            values = {known[t] for t in terms}
            counts.append(len(values))
            flat.extend(values)
        out: list[Sealed] = []
        for s in sealed:
            f = s.fields
            out.append((s.wrapped_dek, f["full_name"], f.get("aliases"), f.get("birth_date"), f.get("notes")))
        return out, counts.tobytes(), flat.tobytes()


def _fields(full_name: str, aliases: tuple[str, ...], edtf: str, notes: str) -> dict[str, bytes]:
    """As ``services._sealed_fields``: field name → plaintext bytes, empty values left out."""
    fields = {"full_name": full_name.encode("utf-8")}
    if aliases:
        fields["aliases"] = json.dumps(list(aliases), ensure_ascii=False).encode("utf-8")
    if edtf:
        fields["birth_date"] = edtf.encode("utf-8")
    if notes:
        fields["notes"] = notes.encode("utf-8")
    return fields


def _dashed(i: int) -> str:
    """``str(uuid.UUID(int=i))`` without the object: the seal's context names the record so."""
    h = f"{i:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --- the helper process -----------------------------------------------------------------------------------
# A child started with ``python -m kartoteka.people.bulkseal SOCKET`` (not multiprocessing: its spawn
# re-runs the caller's main script). Frames on its stdin and stdout: an 8-byte length, then a pickle.
# Only the importing process writes to it, and only this module's code reads what it sends back.

_FRAME = 8


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_FRAME, "little"))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_FRAME)
    if len(head) < _FRAME:
        raise EOFError("the other end closed")
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other end closed")
    return pickle.loads(data)  # noqa: S301 - our own child or parent, over a pipe only they hold


class Helper:
    """The parent's handle on a helper process; one batch at a time."""

    def __init__(self, socket_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module, no shell
            [
                sys.executable,
                "-m",
                __spec__.name if __spec__ else "kartoteka.people.bulkseal",
                str(socket_path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def seal(self, rows: list[Row]) -> tuple[list[Sealed], bytes, bytes]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the sealing helper has no pipes")
        _send(stdin, rows)
        ok, result = _receive(stdout)
        if not ok:
            raise result
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def helper_main(socket_path: str) -> None:
    """Seal batches until the parent closes the pipe; a failure goes back as the exception."""
    out = os.fdopen(os.dup(1), "wb")
    sys.stdout = sys.stderr  # nothing else may write into the frames
    sealer = Sealer(AgentClient(Path(socket_path)))
    while True:
        try:
            rows = _receive(sys.stdin.buffer)
        except EOFError:
            return
        try:
            reply: tuple[bool, object] = (True, sealer.seal(rows))
        except AgentError as exc:  # the parent raises it; agent errors carry codes, never a name
            reply = (False, exc if _picklable(exc) else RuntimeError(type(exc).__name__))
        except Exception as exc:  # any other message may quote a name it choked on: send the type only
            reply = (False, RuntimeError(f"the sealing helper failed: {type(exc).__name__}"))
        _send(out, reply)


def _picklable(exc: BaseException) -> bool:
    try:
        pickle.dumps(exc)
    except Exception:
        return False
    return True


if __name__ == "__main__":
    helper_main(sys.argv[1])
