"""Append-only audit log (audit.jsonl) whose entries form a SHA-256 hash chain.

Each line is one JSON object:
    seq, time_utc, examiner, os_user, host, action, details, prev_sha256, sha256
`sha256` is the hash of the entry's canonical JSON without the `sha256` key, and `prev_sha256`
is the previous entry's `sha256` (64 zeros for the first). Storing each entry's own hash lets
verify name exactly which entry was edited, while `seq` and `prev_sha256` expose removals and
reordering. Truncation of the tail is caught against the head recorded in case.json.

A chain without a secret key proves the log is unchanged against accidental or naive edits;
someone who rewrites the whole chain consistently is not detectable from inside the case. Every
report therefore prints the head (entry count + last sha256): `declip case verify --against` a
report proves the log up to that head is unchanged (see docs/ARCHITECTURE.md, "Audit anchors").
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .atomic import write_bytes_atomic
from .errors import CaseError
from .util import open_regular, os_user, utc_now

AUDIT_NAME = "audit.jsonl"
GENESIS = "0" * 64
TORN_ACTION = "audit_torn_entry_set_aside"
MAX_LOG_BYTES = 8 << 30


class AuditWriteError(CaseError):
    """An audit entry could not be written (disk full, I/O error); the log was left as it was."""


def canonical(entry: dict) -> bytes:
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass
class ChainProblem:
    """One break in the chain. `entry` is the 1-based entry number (= line number)."""

    entry: int
    message: str


class AuditLog:
    """The audit.jsonl of one case. append() is durable (fsync) before it returns."""

    def __init__(self, case_dir: str | os.PathLike, readonly: bool = False):
        self.path = Path(case_dir) / AUDIT_NAME
        self.readonly = readonly  # never repair (write) a log opened for reading
        self._last: tuple[int, str] | None = None  # (seq, sha256) of the last entry, read lazily
        self._torn: dict | None = None  # a torn tail set aside, to be recorded by the next append

    # -- writing -------------------------------------------------------------------------------
    def append(self, action: str, details: dict[str, Any] | None, examiner: str) -> dict:
        return self.append_many([(action, details)], examiner)[0]

    def append_many(self, actions: list[tuple[str, dict[str, Any] | None]], examiner: str) -> list[dict]:
        """Append several entries with one write and one fsync (an ingest logs one per item)."""
        seq, prev = self.head()
        user, host = os_user(), socket.gethostname()
        entries, lines = [], []
        if self._torn is not None and actions:
            # The log itself says an entry was cut off and where its bytes are; verify reports it.
            actions = [(TORN_ACTION, self._torn)] + list(actions)
        for action, details in actions:
            seq += 1
            entry = {
                "seq": seq,
                "time_utc": utc_now(),
                "examiner": examiner,
                "os_user": user,
                "host": host,
                "action": action,
                "details": details or {},
                "prev_sha256": prev,
            }
            entry["sha256"] = prev = entry_hash(entry)
            entries.append(entry)
            lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
        if not entries:
            return []
        data = "".join(lines).encode("utf-8")
        fd = self._open_for_append()
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                # Unbuffered: a buffered file kept the bytes a full disk refused and wrote part of them
                # at close, after the truncate below, leaving a torn entry in the log.
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as exc:
                # Disk full or an I/O error: cut what got in, so no partial entry stays behind.
                try:
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                except OSError:
                    pass
                raise AuditWriteError(f"{self.path}: cannot write the audit log ({exc.strerror or exc}); "
                                      "nothing was recorded") from None
            except BaseException:
                # Ctrl+C during the fsync: the entry may well be in the file. Forget the cached head so the
                # next append (run_analysis logs the interruption at once) chains onto what the file holds;
                # it used to reuse the old head and write a second entry with the same number.
                self._last = None
                raise
        finally:
            os.close(fd)
        self._last = (seq, prev)
        self._torn = None
        return [e for e in entries if e["action"] != TORN_ACTION] or entries

    def _open_for_append(self) -> int:
        """The log's descriptor, opened for appending: never through a link, never a FIFO or device (which would
        block or swallow entries)."""
        import stat

        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: cannot open the audit log for writing ({exc.strerror or exc}); "
                                  "nothing was recorded") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise AuditWriteError(f"{self.path}: the audit log is not a regular file; nothing was recorded")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return fd

    def head(self) -> tuple[int, str]:
        """(number of entries, sha256 of the last entry) as the next append will chain onto."""
        if self._last is None:
            self._last = self._read_tail()
        return self._last

    def _read_tail(self) -> tuple[int, str]:
        # Only the last line is read, so opening a case with a long history stays fast.
        try:
            fh = open_regular(self.path, MAX_LOG_BYTES)
        except FileNotFoundError:
            return 0, GENESIS
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: the audit log {exc.strerror or exc}") from None
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            fh.close()
            return 0, GENESIS
        with fh:
            if not self.readonly:
                self._repair_torn_tail(fh, size)
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return 0, GENESIS
            back = min(size, 1 << 16)
            while True:
                fh.seek(size - back)
                chunk = fh.read(back)
                lines = chunk.rstrip(b"\n").split(b"\n")
                if len(lines) > 1 or back == size:
                    break
                back = min(size, back * 4)
        try:
            last = json.loads(lines[-1].decode("utf-8"))
            return int(last["seq"]), str(last["sha256"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            # A damaged last entry: chain onto its raw bytes so nothing is hidden; verify reports it.
            return sum(1 for _ in self._raw_lines()), hashlib.sha256(lines[-1]).hexdigest()

    def _repair_torn_tail(self, fh, size: int) -> None:
        """A crash during append can leave a partial last line. Keep it aside, never silently drop it."""
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        torn = data[cut:]
        try:
            json.loads(torn.decode("utf-8"))
            complete = True  # whole entry, only its newline is missing
        except (ValueError, UnicodeDecodeError):
            complete = False
        aside = self.path.with_name(f"audit.torn-{utc_now().replace(':', '')}.bin")
        try:
            if not complete:
                # whole or not at all: a full disk once left an empty aside file at every try
                write_bytes_atomic(aside, torn)
            with open(self.path, "r+b") as wh:
                if complete:
                    wh.seek(0, os.SEEK_END)
                    wh.write(b"\n")
                else:
                    wh.truncate(cut)
                wh.flush()
                os.fsync(wh.fileno())
        except OSError as exc:
            raise AuditWriteError(f"{self.path}: its last entry is incomplete and cannot be set aside "
                                  f"({exc.strerror or exc}); nothing was recorded") from None
        if not complete:
            self._torn = {"file": aside.name, "size": len(torn), "sha256": hashlib.sha256(torn).hexdigest(),
                          "at_byte": cut}

    # -- reading -------------------------------------------------------------------------------
    def _raw_lines(self) -> Iterator[bytes]:
        try:
            fh = open_regular(self.path, MAX_LOG_BYTES)  # never a FIFO, device or link
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CaseError(f"{self.path}: cannot read the audit log: it {exc.strerror or exc}") from None
        with fh:
            for raw in fh:
                yield raw.rstrip(b"\n")

    def entries(self) -> list[dict]:
        """All entries in order. An unparseable line appears as {"seq": n, "invalid": "<reason>"}."""
        out = []
        for n, raw in enumerate(self._raw_lines(), 1):
            try:
                e = json.loads(raw.decode("utf-8"))
                if not isinstance(e, dict):
                    raise ValueError("not a JSON object")
                out.append(e)
            except (ValueError, UnicodeDecodeError) as exc:
                out.append({"seq": n, "invalid": f"not valid JSON ({exc})"})
        return out

    def check_chain(self, expected_head: dict | None = None) -> tuple[list[ChainProblem], int]:
        """Walk the chain. Returns (problems, number of lines). Each problem names its entry number
        (its `seq`; the line number is added where the two differ after a removal)."""
        problems: list[ChainProblem] = []
        prev_hash = GENESIS
        prev_seq = 0
        by_seq: dict[int, str] = {}
        n = 0
        for n, raw in enumerate(self._raw_lines(), 1):
            try:
                e = json.loads(raw.decode("utf-8"))
                if not isinstance(e, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError):
                problems.append(ChainProblem(prev_seq + 1, f"audit entry {prev_seq + 1} (line {n}) is not valid JSON"))
                prev_hash = hashlib.sha256(raw).hexdigest()
                prev_seq += 1
                continue
            seq = e.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                seq = prev_seq + 1
                problems.append(ChainProblem(seq, f"audit entry {seq} (line {n}) has no valid entry number"))
            where = f"audit entry {seq}" + (f" (line {n})" if seq != n else "")
            gap = False
            if seq > prev_seq + 1:
                gap = True
                missing = f"audit entry {prev_seq + 1}" if seq == prev_seq + 2 else f"audit entries {prev_seq + 1}-{seq - 1}"
                problems.append(ChainProblem(prev_seq + 1, f"{missing} removed (line {n} holds entry {seq})"))
            elif seq <= prev_seq:
                problems.append(ChainProblem(seq, f"{where} is out of order or duplicated (follows entry {prev_seq})"))
            stored = e.get("sha256")
            actual = entry_hash(e)
            if stored != actual:
                problems.append(ChainProblem(seq, f"{where} was edited: stored sha256 {stored}, content hashes to {actual}"))
            if e.get("prev_sha256") != prev_hash and not gap:
                problems.append(ChainProblem(seq, f"{where} does not chain to entry {seq - 1} "
                                                  f"(entry {seq - 1} was edited, or an entry between was removed): "
                                                  f"prev_sha256 {e.get('prev_sha256')}, expected {prev_hash}"))
            prev_hash = stored if isinstance(stored, str) else actual
            prev_seq = max(prev_seq, seq)
            by_seq.setdefault(seq, prev_hash)
        if expected_head:
            want = int(expected_head.get("entries", 0))
            if prev_seq < want:
                gone = f"entry {want}" if prev_seq + 1 == want else f"entries {prev_seq + 1}-{want}"
                problems.append(ChainProblem(prev_seq + 1, f"audit log truncated: case.json records {want} entries, the log "
                                                           f"ends at entry {prev_seq} ({gone} removed)"))
            elif want > 0 and want in by_seq and by_seq[want] != expected_head.get("last_sha256"):
                # The log may run ahead of case.json (append happens first); the recorded entry must match.
                problems.append(ChainProblem(want, f"audit entry {want} differs from the hash recorded in case.json: "
                                                   f"expected {expected_head.get('last_sha256')}, found {by_seq[want]}"))
        return problems, n
