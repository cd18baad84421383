"""One file over HTTP(S), the only network code in the product (used by `declip models fetch`).

Standard library only (urllib): the proxy environment variables (http_proxy, https_proxy,
no_proxy) are honoured through ProxyHandler. The file is streamed to `<name>.part`; a cut
transfer is resumed with an HTTP Range request; each attempt has a socket timeout and failed
attempts are retried with exponential backoff. Size and SHA-256 are checked before the `.part`
file is renamed, and a file that fails the check is deleted.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .errors import Cancelled, DeclipError

CHUNK = 1 << 20


class DownloadError(DeclipError):
    """A download that failed for good (after the retries) or a file that failed verification."""


@dataclass
class Progress:
    name: str
    done: int  # bytes on disk, resumed ones included
    total: int | None  # None when neither the card nor the server says
    rate: float  # bytes per second in this attempt
    eta: float | None  # seconds left, None when unknown

    def line(self) -> str:
        total = f" of {human_bytes(self.total)}" if self.total else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        eta = f", {human_seconds(self.eta)} left" if self.eta is not None else ""
        return f"{self.name}: {human_bytes(self.done)}{total}{pct} at {human_bytes(self.rate)}/s{eta}"


def human_bytes(n: float | None) -> str:
    if n is None:
        return "unknown size"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def human_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def opener() -> urllib.request.OpenerDirector:
    # ProxyHandler() reads http_proxy / https_proxy / no_proxy from the environment at call time.
    return urllib.request.build_opener(urllib.request.ProxyHandler())


def _user_agent() -> str:
    from .versions import app_version

    return f"declip-desktop/{app_version()} (models fetch)"


def download(url: str, dest: Path, *, size: int | None = None, sha256: str | None = None,
             progress: Callable[[Progress], None] | None = None, cancelled: Callable[[], bool] | None = None,
             timeout: float = 60.0, retries: int = 5, backoff: float = 2.0,
             log: Callable[[str], None] | None = None) -> str:
    """Download `url` to `dest` (via `dest.part`, resumed if present); return the file's SHA-256.

    Raises DownloadError (after deleting what was fetched) when the size or hash differs, and
    Cancelled when `cancelled()` turns true (the `.part` file stays, so a later call resumes).
    """
    if urlsplit(url).scheme not in ("http", "https"):  # urllib would also open file:// and ftp://
        raise DownloadError(f"{url}: only http:// and https:// addresses are fetched")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        _check_cancel(cancelled)
        try:
            _transfer(url, part, size, progress, cancelled, timeout)
            break
        except (urllib.error.HTTPError) as exc:
            if exc.code == 416 and size is not None and part.exists() and part.stat().st_size == size:
                break  # already complete: the server has nothing past the end
            if exc.code == 416:
                part.unlink(missing_ok=True)  # our partial file is longer than theirs: start again
            elif exc.code < 500 and exc.code != 429:
                raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}"
                                    + (" (the file may need a sign-in; try a mirror with --base-url)"
                                       if exc.code in (401, 403) else "")) from None
            attempt = _retry_or_fail(url, attempt, retries, backoff, f"HTTP {exc.code}", cancelled, log)
        except _TRANSIENT as exc:
            reason = getattr(exc, "reason", exc)
            if _unreachable(reason):  # no network at all: say so now, not after minutes of retries
                what = (f"cannot resolve {urlsplit(url).hostname}" if isinstance(reason, socket.gaierror)
                        else reason.strerror or str(reason))
                raise DownloadError(f"{url}: the network is unreachable ({what}); `declip models fetch` needs "
                                    "a connection (through a proxy: https_proxy) or a mirror (--base-url); on a "
                                    "machine without one, import a model pack made elsewhere") from None
            if isinstance(reason, ssl.SSLCertVerificationError):  # retrying cannot help
                raise DownloadError(f"{url}: the server's certificate is not trusted ({reason.verify_message}); "
                                    "a proxy that inspects TLS needs its certificate in the system store") from None
            attempt = _retry_or_fail(url, attempt, retries, backoff, _why(exc), cancelled, log)
        except OSError as exc:  # local: a full disk or an unwritable folder; the .part stays for a resume
            raise DownloadError(f"{part}: cannot write the download ({exc.strerror or exc})") from None
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: received {got} bytes, the card says {size}; the file was deleted")
    digest = _sha256(part, cancelled)
    if sha256 and digest != sha256.lower():
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: SHA-256 {digest} does not match the expected {sha256}; the file was deleted")
    os.replace(part, dest)
    return digest


# What a flaky link or a slow server raises. Local errors (a full disk) are not retried.
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError,
              ssl.SSLError)


def _unreachable(reason) -> bool:
    """No route or no name resolution: this machine is offline (or its DNS is), retrying cannot help."""
    if isinstance(reason, socket.gaierror):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _retry_or_fail(url: str, attempt: int, retries: int, backoff: float, why: str,
                   cancelled: Callable[[], bool] | None, log: Callable[[str], None] | None) -> int:
    if attempt >= retries:
        raise DownloadError(f"{url}: download failed after {attempt + 1} attempt{'s' if attempt else ''} ({why}); "
                            "run the command again to resume") from None
    wait = backoff * (2 ** attempt)
    if log is not None:
        log(f"{url.rsplit('/', 1)[-1]}: {why}; resuming in {wait:g} s (retry {attempt + 1} of {retries})")
    end = time.monotonic() + wait
    while time.monotonic() < end:  # a cancel during the wait is honoured within 0.1 s
        _check_cancel(cancelled)
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    return attempt + 1


def _check_cancel(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("download cancelled; run it again to resume")


def _transfer(url: str, part: Path, size: int | None, progress, cancelled, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    req = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with opener().open(req, timeout=timeout) as resp:
        start = 0
        if resp.status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else -1
            if start != have:
                raise http.client.HTTPException(f"server resumed at byte {start}, expected {have}")
        length = resp.headers.get("Content-Length")
        expect_end = start + int(length) if length and length.isdigit() else None
        total = size if size is not None else expect_end
        t0, got = time.monotonic(), 0
        with open(part, "r+b" if start else "wb") as fh:
            fh.seek(start)
            fh.truncate()
            while True:
                _check_cancel(cancelled)
                block = resp.read(CHUNK)
                if not block:
                    break
                fh.write(block)
                got += len(block)
                if progress is not None:
                    dt = max(time.monotonic() - t0, 1e-6)
                    rate = got / dt
                    done = start + got
                    eta = (total - done) / rate if total and rate > 0 else None
                    progress(Progress(part.name[:-5], done, total, rate, eta))
            fh.flush()
            os.fsync(fh.fileno())
        if expect_end is not None and start + got < expect_end:
            raise ConnectionError(f"connection closed after {start + got} of {expect_end} bytes")


def _sha256(path: Path, cancelled) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            _check_cancel(cancelled)
            h.update(block)
    return h.hexdigest()
