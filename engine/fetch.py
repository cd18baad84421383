"""`declip models fetch`: download released models named by the cards shipped in resources/cards/.

Each release card's file entries carry `url` and `licence` (and, for the OpenAI CLIP files, the
published `sha256` and `size`); no address lives in code. Files are fetched once per run and the
CLIP files are shared between models (a copy already in the store is reused, never re-fetched).
Nothing is downloaded until the licence is accepted; the acceptance is recorded in the card.

The DeCLIP decoders have no published hash: the first verified download's SHA-256 is recorded
as *first seen* (hash, size, URL, UTC time) in $DECLIP_HOME/first-seen.json and in the card, and
every later fetch of that file must match it. Downloaded files then go through the same import
as `declip models import` (architecture from the file, weights_only loading, hashes in the card).
"""
from __future__ import annotations

import contextlib
import getpass
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .atomic import write_text_atomic
from .cards import ModelCard, check_file_name
from .download import DownloadError, Progress, download
from .errors import DeclipError, ModelStoreError
from .hashing import file_sha256

FIRST_SEEN_NAME = "first-seen.json"
# What each file role is, in the words listings use
ROLE_WORD = {"decoder": "decoder", "clip-vit": "CLIP ViT-L/14", "clip-rn": "CLIP RN50"}


class LicenceNotAccepted(DeclipError):
    """The user did not accept a model's licence, so nothing was downloaded."""


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


# ---- release cards ------------------------------------------------------------------------------
def release_cards(folder: Path | None = None) -> list[ModelCard]:
    """The shipped cards whose every file names a download address."""
    if folder is None:
        from .store import resources_dir

        folder = resources_dir() / "cards"
    out = []
    for p in sorted(Path(folder).glob("*.json")):
        try:
            card = ModelCard.load(p)
        except ModelStoreError:
            continue
        if card.files and all(isinstance(f.get("url"), str) and f["url"] for f in card.files):
            out.append(card)
    return out


def find_release(model_id: str, catalogue: list[ModelCard]) -> ModelCard:
    for c in catalogue:
        if c.id == model_id:
            return c
    known = ", ".join(c.id for c in catalogue) or "none"
    raise ModelStoreError(f"{model_id!r} is not a release that can be fetched; releases: {known}")


def mirror_url(url: str, base_url: str | None) -> str:
    """The file's address on a mirror that keeps the original paths (base + the URL's path)."""
    if not base_url:
        return url
    return base_url.rstrip("/") + urlsplit(url).path


def licence_text(cards: list[ModelCard]) -> str:
    """What the user accepts: each model's licence line and each file's licence."""
    lines = []
    for c in cards:
        lines.append(f"{c.id}: {c.license}")
        for f in c.files:
            lines.append(f"    {f['name']}: {f.get('licence') or c.license}")
    return "\n".join(lines)


def release_size(card: ModelCard) -> int | None:
    sizes = [f.get("size") for f in card.files]
    return sum(sizes) if all(isinstance(s, int) for s in sizes) else None


# ---- first seen ---------------------------------------------------------------------------------
def first_seen(home: Path) -> dict[str, dict]:
    """{file name: {sha256, size, url, utc}} for files fetched without a published hash."""
    path = Path(home) / FIRST_SEEN_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # refusing is safer than fetching with no reference: the user must look at the file
        raise ModelStoreError(f"{path}: unreadable first-seen record ({exc}); fix or move it away") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise ModelStoreError(f"{path}: not a first-seen record (expected a 'files' object)")
    return files


def record_first_seen(home: Path, name: str, sha256: str, size: int, url: str) -> dict:
    files = first_seen(home)
    entry = files.get(name) or {"sha256": sha256, "size": size, "url": url, "utc": _utc_now()}
    files[name] = entry
    Path(home).mkdir(parents=True, exist_ok=True)
    doc = {"about": "SHA-256 of the first verified download of files whose publisher gives no hash; "
                    "later fetches must match", "files": files}
    write_text_atomic(Path(home) / FIRST_SEEN_NAME, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return entry


# ---- fetch --------------------------------------------------------------------------------------
def fetch_models(ids: list[str], *, store=None, catalogue: list[ModelCard] | None = None,
                 accept: bool | Callable[[str], bool] = False, accepted_how: str = "--accept-licence",
                 base_url: str | None = None, dest: str | Path | None = None, pack: str | Path | None = None,
                 progress: Callable[[Progress], None] | None = None, cancelled: Callable[[], bool] | None = None,
                 log: Callable[[str], None] = lambda _m: None, timeout: float = 60.0, retries: int = 5,
                 backoff: float = 2.0) -> list[ModelCard]:
    """Fetch, verify and import the releases `ids` (or, with `pack`, write them to one pack file).

    `accept` is True (accepted beforehand) or a function shown the licence text that returns
    whether the user accepts. Returns the imported cards (models already installed are skipped)."""
    from .store import ModelStore

    store = store or ModelStore()
    catalogue = release_cards() if catalogue is None else catalogue
    cards = [find_release(i, catalogue) for i in dict.fromkeys(ids)]
    if pack is not None and len(cards) != 1:
        raise ModelStoreError("a pack holds one model: fetch one id with --pack")
    if pack is None:
        cards = [c for c in cards if not _installed(store, c.id, log)]
    if not cards:
        return []
    text = licence_text(cards)
    ok = accept(text) if callable(accept) else bool(accept)
    if not ok:
        raise LicenceNotAccepted("the licence was not accepted, so nothing was downloaded "
                                 "(read it with `declip models fetch --list`; accept with --accept-licence)")
    acceptance = {"utc": _utc_now(), "by": _user(), "how": accepted_how}
    keep = dest is not None
    work = Path(dest) if keep else store.home / "downloads"
    target = store
    staging = contextlib.ExitStack()
    if pack is not None:
        Path(pack).parent.mkdir(parents=True, exist_ok=True)
        # The pack's temporary store lives in the store's own staging folder (locked while in use), so
        # a fetch killed half-way leaves nothing beside the user's pack and the next run sweeps it.
        target = ModelStore(home=staging.enter_context(store.staging()))
    fetched: dict[tuple[str, str], Path] = {}
    done: list[ModelCard] = []
    try:
        for card in cards:
            sources: dict[str, Path] = {}
            urls: dict[str, str] = {}
            for f in card.files:
                check_file_name(f["name"], f"{card.id}: file")
                url = mirror_url(f["url"], base_url)
                urls[f["role"]] = url
                key = (f["name"], url)
                if key not in fetched:
                    fetched[key] = _obtain(store, f, url, work, progress, cancelled, log, timeout, retries, backoff)
                sources[f["role"]] = fetched[key]
            imported = target.import_path(sources["decoder"], [p for r, p in sources.items() if r != "decoder"],
                                          model_id=card.id, releases=catalogue)
            _annotate(store, imported, card, sources, urls, acceptance)
            done.append(imported)
            log(f"installed {imported.id}" if pack is None else f"verified {imported.id}")
        if pack is not None:
            from .packs import pack_model

            path, digest = pack_model(target, cards[0].id, Path(pack))
            log(f"wrote {path} (SHA-256 {digest})")
    finally:
        staging.close()
        if not keep:
            for p in fetched.values():
                if p.parent == work:
                    p.unlink(missing_ok=True)
            try:
                work.rmdir()  # only when empty: a cut download's .part stays for the next run
            except OSError:
                pass
    return done


def _installed(store, model_id: str, log) -> bool:
    try:
        entry = store.find(model_id)
    except ModelStoreError:
        return False
    if entry.location == "store" and entry.status == "ready":
        log(f"{model_id} is already installed; skipped")
        return True
    return False


def _obtain(store, f: dict, url: str, work: Path, progress, cancelled, log, timeout, retries, backoff) -> Path:
    """A verified local copy of one release file: reused from the store when its hash is known."""
    published = f.get("sha256")
    if published:
        shared = store.backbones_dir / published[:16] / f["name"]
        if shared.is_file():
            # the copy is reused only if it is still the published file (the store replaces a damaged one)
            if file_sha256(shared) == published.lower():
                log(f"{f['name']}: already in the store, not downloaded again")
                return shared
            log(f"{f['name']}: the copy in the store differs from the published SHA-256; downloading it again")
    seen = first_seen(store.home).get(f["name"]) if not published else None
    expected = published or (seen or {}).get("sha256")
    size = f.get("size") if published else (seen or {}).get("size", f.get("size"))
    log(f"{f['name']}: fetching {url}")
    try:
        download(url, work / f["name"], size=size, sha256=expected, progress=progress, cancelled=cancelled,
                 timeout=timeout, retries=retries, backoff=backoff, log=log)
    except DownloadError as exc:
        if seen and not published:
            raise DownloadError(f"{exc} (the hash expected is the one first seen on {seen.get('utc')} "
                                f"from {seen.get('url')})") from None
        raise
    return work / f["name"]


def _annotate(store, card: ModelCard, release: ModelCard, sources: dict[str, Path], urls: dict[str, str],
              acceptance: dict) -> None:
    """Say in the stored card where each file came from, how its hash is known, and who accepted."""
    by_role = {f["role"]: f for f in release.files}
    for f in card.files:
        rel = by_role.get(f["role"])
        if rel is None:
            continue
        f["url"] = urls[f["role"]]
        f["licence"] = rel.get("licence") or release.license
        f["licence_accepted"] = dict(acceptance)
        if rel.get("sha256"):
            if f["sha256"] != rel["sha256"].lower():  # cannot happen after _obtain; never label it published
                raise ModelStoreError(f"{f['name']}: SHA-256 {f['sha256']} is not the published {rel['sha256']}")
            f["sha256_origin"] = rel.get("sha256_origin") or "published"
        else:
            # recorded only now, after the import's safe load accepted the file
            seen = record_first_seen(store.home, f["name"], f["sha256"], f.get("size") or 0, f["url"])
            f["sha256_origin"] = "first seen"
            f["first_seen"] = seen
    card.source = f"{release.source}; fetched {acceptance['utc']}"
    card.save(card.root)


def hash_note(f: dict) -> str:
    """How a file's SHA-256 is known, in words, for cards shown to users."""
    if f.get("sha256_origin") == "first seen" and isinstance(f.get("first_seen"), dict):
        s = f["first_seen"]
        return f"first seen {s.get('utc')} from {s.get('url')} (not published by the authors)"
    if f.get("sha256_origin"):
        return str(f["sha256_origin"])
    return ""
