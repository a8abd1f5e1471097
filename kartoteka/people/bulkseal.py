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

from kartoteka.lib import names
from kartoteka.lib.agent import AgentClient, AgentError

RECORD_TABLE = "people.record"
NAME_PURPOSE = "people.record.name"

# (record id as an int, full name, aliases, birth date as EDTF text or "", notes)
Row = tuple[int, str, tuple[str, ...], str, str]
# Per row: wrapped data key, then the full name's, aliases', birth date's and notes' ciphertexts (or None).
Sealed = tuple[bytes, bytes, bytes | None, bytes | None, bytes | None]


class Sealer:
    """One import's agent connection and caches: a plain name's blind-index values (names recur) and a
    term's value (terms recur far more). Dropped with the import."""

    def __init__(self, agent: AgentClient) -> None:
        self.agent = agent
        self.name_values: dict[str, tuple[int, ...]] = {}
        self.term_values: dict[str, int] = {}

    def seal(self, rows: list[Row]) -> tuple[list[Sealed], bytes, bytes]:
        """The sealed fields of each row, and the batch's name-term rows as two arrays' bytes (cheap to send
        back from a helper process): each row's distinct blind-index values (int64), sorted, and the
        position of the row each belongs to (int64), so the importer inserts them in key order.

        The seal request is built flat for ``AgentClient.seal_records_flat`` (no per-record objects), and a
        name without aliases is parsed once per import: its values are kept, not its terms."""
        if not rows:
            return [], b"", b""
        field_counts: list[int] = []
        flat: list[bytes] = []
        add = flat.extend
        for rid, full_name, aliases, edtf, notes in rows:
            add((_TABLE, _dashed(rid).encode(), b"full_name", full_name.encode()))
            n = 1
            if aliases:
                add((b"aliases", json.dumps(list(aliases), ensure_ascii=False).encode()))
                n += 1
            if edtf:
                add((b"birth_date", edtf.encode()))
                n += 1
            if notes:
                add((b"notes", notes.encode()))
                n += 1
            field_counts.append(n)
        cached, known = self.name_values, self.term_values
        if len(known) >= 1_000_000:
            known.clear()  # before the look-ups below, which then ask the agent for whatever this drops
        row_values: list[tuple[int, ...] | None] = []
        parsed: list[tuple[int, list[str]]] = []  # (row position, terms) of the names not cached
        new: dict[str, None] = {}
        for j, (_, full_name, aliases, _, _) in enumerate(rows):
            values = None if aliases else cached.get(full_name)
            if values is None:
                terms = names.record_terms(full_name, aliases)
                parsed.append((j, terms))
                new.update((t, None) for t in terms if t not in known)
            row_values.append(values)
        reply = self.agent.seal_records_flat(field_counts, flat)
        if new:
            known.update(zip(new, self.agent.blind_index(NAME_PURPOSE, list(new)), strict=True))
        if len(cached) >= _NAMES_KEPT:
            cached.clear()
        for j, terms in parsed:
            # Distinct values; the set drops the (never seen) HMAC collision the (term, record) key would refuse.
            values = row_values[j] = tuple({known[t] for t in terms})
            if not rows[j][2]:
                cached[rows[j][1]] = values
        out: list[Sealed] = []
        pos = 0
        for (_, _, aliases, edtf, notes), n in zip(rows, field_counts, strict=True):
            k = pos + 2
            aliases_c = edtf_c = notes_c = None
            if aliases:
                aliases_c, k = reply[k], k + 1
            if edtf:
                edtf_c, k = reply[k], k + 1
            if notes:
                notes_c = reply[k]
            out.append((reply[pos], reply[pos + 1], aliases_c, edtf_c, notes_c))
            pos += 1 + n
        values_out, owners = _by_value(row_values, len(rows))
        return out, values_out, owners


def _by_value(row_values: list[tuple[int, ...] | None], count: int) -> tuple[bytes, bytes]:
    """(values, row positions) of a batch's term rows, ordered by value then row: the order of the
    (term, record) key, so the inserts walk the index once instead of landing at random places in it
    (record ids ascend with the row position). One sort of plain ints: value and position packed."""
    shift = max(count - 1, 1).bit_length()
    keyed = sorted((value << shift) | j for j, values in enumerate(row_values) if values for value in values)
    mask = (1 << shift) - 1
    return array("q", [k >> shift for k in keyed]).tobytes(), array("q", [k & mask for k in keyed]).tobytes()


_TABLE = RECORD_TABLE.encode()
# Names whose values an import keeps: about 50 MB at most in the helper, enough for the distinct names
# of a million-row file of common Russian names (≈ 200,000 in the bench's).
_NAMES_KEPT = 250_000


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
