"""One writer per case: a lock file holding the owner's PID, host and user.

A lock whose PID is dead on this host is stale (the process crashed) and is taken over.
A lock from another host cannot be checked, so the message says how to clear it by hand.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import stat
import time
from pathlib import Path

from engine.atomic import DISK_FULL

from .errors import CaseLockedError, CaseReadOnlyMediaError
from .util import os_user, printable, utc_now

LOCK_NAME = "case.lock"
# A lock file that is still empty after this long was left by a writer killed mid-create.
_EMPTY_GRACE_S = 5.0
# A real lock is ~200 bytes of JSON; more is not ours (and /dev/zero would never end).
_MAX_LOCK_BYTES = 4096
# The case folder cannot be written at all: a write-blocker, a read-only mount, no permission.
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # no signal 0 on Windows: ask the kernel for a handle instead
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def boot_id() -> str | None:
    """Changes at every boot (Linux): a lock from an earlier boot is stale whatever its PID."""
    return _read("/proc/sys/kernel/random/boot_id")


def process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux), to tell a reused PID apart."""
    stat_line = _read(f"/proc/{pid}/stat")
    if not stat_line or ")" not in stat_line:
        return None
    fields = stat_line.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


class CaseLock:
    """Holds `<case>/case.lock` until release(). `stale_taken_over` describes a replaced stale lock."""

    def __init__(self, case_dir: str | os.PathLike):
        self.path = Path(case_dir) / LOCK_NAME
        self.held = False
        self.stale_taken_over: dict | None = None

    def acquire(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "user": os_user(), "since_utc": utc_now(),
                "boot_id": boot_id(), "process_start": process_start(os.getpid())}
        payload = json.dumps(info).encode("utf-8")
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except FileExistsError:
                owner = self._read_owner()
                if owner is None:
                    continue  # vanished between the two calls: try again
                if owner.get("not_a_file"):
                    raise CaseLockedError(f"{self.path.parent}: {self.path.name} is {owner['not_a_file']}, not a lock "
                                          f"DeCLIP wrote; if no DeCLIP is using the case, remove it by hand") from None
                if self._is_stale(owner):
                    if self._remove_stale(owner):
                        self.stale_taken_over = owner
                    continue
                raise CaseLockedError(self._locked_message(owner)) from None
            except OSError as exc:
                self._raise_if_read_only(exc)
                raise
            try:
                try:
                    if os.write(fd, payload) != len(payload):
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                # A full disk lets the empty file be made but not filled: remove it, or every later
                # command would read it as a lock "being written" by someone else.
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
                self._raise_if_read_only(exc)
                raise
            self.held = True
            return
        raise CaseLockedError(f"{self.path.parent}: could not take the case lock ({self.path.name} keeps changing)")

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            owner = self._read_owner() or {}
            if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
                self.path.unlink()
        except OSError:
            pass

    def _remove_stale(self, owner: dict) -> bool:
        """Remove the lock judged stale, only if it is still that lock. Two processes that both read the
        same stale lock used to both unlink by name: the later one removed the lock the first had just
        made, and both wrote the case. The lock is moved aside atomically (one mover wins) and checked;
        a live lock moved by mistake is put back. True when the stale lock was removed here."""
        aside = self.path.with_name(f".tmp-{self.path.name}.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False  # another process took it away first
        except OSError as exc:
            self._raise_if_read_only(exc)
            raise
        moved = CaseLock(self.path.parent)
        moved.path = aside
        now = moved._read_owner() or {}
        if now == owner or (owner.get("empty") and now.get("empty")):
            os.unlink(aside)
            return True
        try:  # a lock someone made since we read the stale one: it goes back, unless yet another exists
            os.link(aside, self.path)
            os.unlink(aside)
        except FileExistsError:
            os.unlink(aside)
        except OSError:  # no hard links (FAT, exFAT): move it back
            if not os.path.lexists(self.path):
                os.replace(aside, self.path)
        return False

    def _raise_if_read_only(self, exc: OSError) -> None:
        if exc.errno in DISK_FULL:  # the case can still be read (verify, report elsewhere), not written
            raise CaseReadOnlyMediaError(f"{self.path.parent}: the case folder cannot be written ({exc.strerror or exc}: "
                                         "the disk is full; free space, then run the command again)") from None
        if exc.errno in _READ_ONLY_ERRNOS:
            raise CaseReadOnlyMediaError(f"{self.path.parent}: the case folder cannot be written "
                                         f"({exc.strerror or exc}; a write-blocked or read-only medium?)") from None

    def _read_owner(self) -> dict | None:
        """The lock's owner, read safely: never through a link, never from a FIFO or device
        (which could block or never end), never more than a few KB."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP or os.path.islink(self.path):
                return {"not_a_file": "a symbolic link"}
            return {"unreadable": True}
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                        else "a device or special file")
                return {"not_a_file": kind}
            if st.st_size > _MAX_LOCK_BYTES:
                return {"not_a_file": f"{st.st_size} bytes long"}
            raw = os.read(fd, _MAX_LOCK_BYTES + 1)
        except OSError:
            return {"unreadable": True}
        finally:
            os.close(fd)
        try:
            owner = json.loads(raw.decode("utf-8"))
            if not isinstance(owner, dict):
                raise ValueError
            return owner
        except (ValueError, UnicodeDecodeError):
            try:
                age = time.time() - self.path.stat().st_mtime
            except OSError:
                age = 0.0
            return {"empty": True, "age_s": age}

    def _is_stale(self, owner: dict) -> bool:
        if owner.get("empty"):
            return owner.get("age_s", 0.0) > _EMPTY_GRACE_S
        if owner.get("unreadable"):
            return False
        if owner.get("host") != socket.gethostname():
            return False  # cannot see processes on another machine
        try:
            pid = int(owner.get("pid"))
        except (TypeError, ValueError):
            return True
        if pid == os.getpid():
            return False  # open twice in this process: a real conflict, not a crash
        if owner.get("boot_id") and boot_id() and owner["boot_id"] != boot_id():
            return True  # the machine restarted since the lock was taken
        if not pid_alive(pid):
            return True
        started = owner.get("process_start")
        now = process_start(pid)
        return bool(started and now and started != now)  # PID reused by an unrelated process

    def _locked_message(self, owner: dict) -> str:
        case = self.path.parent
        if owner.get("empty") or owner.get("unreadable"):
            return f"{case}: case is locked by another process (lock file {self.path.name} is being written)"
        # the lock file is read from the case folder, which may come from anywhere: never raw terminal codes
        who = printable(f"{owner.get('user', '?')}@{owner.get('host', '?')} (PID {owner.get('pid', '?')}, "
                        f"since {owner.get('since_utc', '?')})")
        if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            return f"{case}: case is already open in this program; close it first"
        hint = "" if owner.get("host") == socket.gethostname() else (
            f"; if that computer is no longer using it, delete {self.path}")
        return f"{case}: case is open in another process by {who}{hint}"
