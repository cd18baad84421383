"""The model store: imported models under $DECLIP_HOME, plus the cards shipped in resources/.

Layout:  $DECLIP_HOME/models/<id>/card.json + decoder file
         $DECLIP_HOME/backbones/<sha256[:16]>/<file>   (CLIP weights, shared between models)
         $DECLIP_HOME/settings.json                      (default model id; readable JSON)
Built-in cards (the nine official DeCLIP checkpoints) live in resources/cards/ and become usable
once their files are imported; the embedded default model lives in resources/models/.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: stale temp folders are then recognised by age alone
    fcntl = None

from .atomic import write_text_atomic
from .cards import CARD_NAME, MODEL_FILE_ROLES, ModelCard, check_file_name, check_model_id
from .errors import CheckpointError, DeclipError, ModelStoreError
from .hashing import file_sha256
from .stamps import utc_now

DEFAULT_MODEL_ID = "declip-lite2-default"
_log = logging.getLogger(__name__)
# Bad store cards already reported in this process (list() runs several times per command).
_REPORTED: set[str] = set()
# Temp folders an import writes (a kill leaves them behind); each holds LOCK_NAME locked while in use.
IMPORTING_SUFFIX = ".importing"
PACK_STAGING_PREFIX = ".pack-import-"
LOCK_NAME = ".lock"
_STARTED = time.time()
_SWEPT: set[str] = set()  # stores swept by this process


def declip_home() -> Path:
    env = os.environ.get("DECLIP_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("DeCLIP Desktop", appauthor=False))


def resources_dir() -> Path:
    import resources

    return resources.ROOT


def looks_like_path(model: str | os.PathLike) -> bool:
    """Whether --model names a folder rather than a store id. A store id never holds a separator, so
    a path must show it is one (./NAME, ../x, /abs, ~/x, C:\\x): a folder in the working directory
    that happens to carry a store id's name is never picked silently."""
    if isinstance(model, os.PathLike):
        return True
    text = str(model)
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(c in text for c in seps) or text.startswith(("~", ".")) or os.path.isabs(text)


@dataclass
class StoreEntry:
    card: ModelCard
    status: str  # "ready" | "not imported" | "files missing"
    location: str  # "embedded" | "store" | "catalogue"


class ModelStore:
    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home else declip_home()
        self.models_dir = self.home / "models"
        self.backbones_dir = self.home / "backbones"
        self.settings_path = self.home / "settings.json"
        # One line per imported card that could not be read, refreshed by every list().
        self.problems: list[str] = []

    # ---- catalogue ----------------------------------------------------------------------
    def _embedded(self) -> list[ModelCard]:
        out = []
        for card_path in sorted((resources_dir() / "models").glob(f"*/{CARD_NAME}")):
            try:
                card = ModelCard.load(card_path)
            except ModelStoreError:
                continue
            card.builtin = True
            out.append(card)
        return out

    def _catalogue(self) -> list[ModelCard]:
        out = []
        for p in sorted((resources_dir() / "cards").glob("*.json")):
            try:
                out.append(ModelCard.load(p))
            except ModelStoreError:
                continue
        return out

    def _imported(self) -> list[ModelCard]:
        out, problems = [], []
        if self.models_dir.is_dir():
            for card_path in sorted(self.models_dir.glob(f"*/{CARD_NAME}")):
                if card_path.parent.name.startswith("."):  # an import's temp folder, never a model
                    continue
                try:
                    out.append(ModelCard.load(card_path))
                except DeclipError as exc:
                    problems.append(f"skipped unreadable model card: {exc}")
                except Exception as exc:  # one bad card must never hide the good ones
                    problems.append(f"skipped unreadable model card: {card_path}: {type(exc).__name__}: {exc}")
        self.problems = problems
        for msg in problems:
            # logging's last-resort handler prints the bare line to stderr when no front-end set one up
            if msg not in _REPORTED:
                _REPORTED.add(msg)
                _log.warning(msg)
        return out

    def list(self) -> list[StoreEntry]:
        self.sweep_stale()
        entries: list[StoreEntry] = []
        seen: set[str] = set()
        for card in self._embedded():
            entries.append(StoreEntry(card, "ready" if self._files_present(card) else "files missing", "embedded"))
            seen.add(card.id)
        for card in self._imported():
            entries.append(StoreEntry(card, "ready" if self._files_present(card) else "files missing", "store"))
            seen.add(card.id)
        for card in self._catalogue():
            if card.id not in seen:
                entries.append(StoreEntry(card, "not imported", "catalogue"))
        return entries

    def _files_present(self, card: ModelCard) -> bool:
        return all(card.path_of(f["role"]) is not None and card.path_of(f["role"]).is_file() for f in card.files)

    def find(self, model_id: str) -> StoreEntry:
        for e in self.list():
            if e.card.id == model_id:
                return e
        known = ", ".join(e.card.id for e in self.list()) or "none"
        raise ModelStoreError(f"unknown model {model_id!r}; known models: {known}")

    def get(self, model_id: str) -> ModelCard:
        e = self.find(model_id)
        if e.status == "not imported":
            names = ", ".join(f["name"] for f in e.card.files)
            raise ModelStoreError(f"model {model_id!r} is not imported yet; download it with `declip models fetch "
                                  f"{model_id}`, or import its files ({names}) or a .declipmodel pack with "
                                  "`declip models import`")
        if e.status != "ready":
            raise ModelStoreError(f"model {model_id!r}: some of its files are missing from {e.card.root}")
        return e.card

    # ---- temp folders ---------------------------------------------------------------------
    def sweep_stale(self, force: bool = False) -> list[Path]:
        """Remove what killed imports left behind (temp folders no live process holds); once per
        process unless forced. Returns what was removed."""
        if str(self.home) in _SWEPT and not force:
            return []
        _SWEPT.add(str(self.home))
        found = list(self.home.glob(f"{PACK_STAGING_PREFIX}*")) if self.home.is_dir() else []
        if self.models_dir.is_dir():
            found += list(self.models_dir.glob(f".*{IMPORTING_SUFFIX}"))
        removed = []
        for folder in found:
            if folder.is_dir() and not folder.is_symlink() and not _in_use(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    @contextlib.contextmanager
    def staging(self):
        """A temp folder in the store's home for a pack's files, locked while in use, removed after."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.sweep_stale()
        folder = Path(tempfile.mkdtemp(prefix=PACK_STAGING_PREFIX, dir=self.home))
        try:
            with _locked(folder):
                yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # ---- default ------------------------------------------------------------------------
    def _settings(self) -> dict:
        try:
            data = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("default_model", ""), (str, type(None))):
            return {}  # a hand-edited file of the wrong shape: the built-in default, as if it were absent
        return data

    @property
    def default_id(self) -> str:
        return self._settings().get("default_model") or DEFAULT_MODEL_ID

    @default_id.setter
    def default_id(self, model_id: str) -> None:
        self.get(model_id)  # must be usable
        bad = [r for r in self.verify(model_id) if not r["ok"]]
        if bad:  # what every analysis would then refuse, or run on changed files
            raise ModelStoreError(f"model {model_id!r} is not made the default: {bad[0]['name']} "
                                  f"({bad[0]['role']}): {bad[0]['problem']}; see `declip models verify {model_id}`")
        s = self._settings()
        s["default_model"] = model_id
        with self._writing():
            write_text_atomic(self.settings_path, json.dumps(s, indent=2) + "\n")

    @contextlib.contextmanager
    def _writing(self):
        """A store on read-only media (or without permission) gives one line, not a traceback."""
        try:
            yield
        except OSError as exc:
            raise ModelStoreError(f"{self.home}: the model store cannot be written ({exc.strerror or exc}); "
                                  "set DECLIP_HOME to a writable folder") from None

    # ---- import -------------------------------------------------------------------------
    def import_path(self, path: str | Path, backbone_weights: list[str | Path] | None = None,
                    model_id: str | None = None, name: str | None = None, verify_load: bool = True,
                    from_pack: bool = False, releases: list[ModelCard] | None = None) -> ModelCard:
        """Import an official DeCLIP .pth (plus CLIP weights) or an own model folder (card.json).
        from_pack: the folder is a pack's staging copy (whose id cannot be changed on import).
        releases: the release cards a .pth named like a release must match (default: the shipped ones)."""
        from .loading import prepare_official_card, prepare_own_card

        path = Path(path)
        if model_id is not None:
            check_model_id(model_id, "--id")
        if name is not None and (not name.strip() or len(name) > 500 or not name.isprintable()):
            raise ModelStoreError("--name must be a non-empty name of at most 500 characters without control "
                                  f"characters, found {name[:80]!r}")
        if not path.exists():
            raise ModelStoreError(f"{path}: not found")
        backbone_weights = [Path(p) for p in (backbone_weights or [])]
        if path.is_dir():
            card, sources = prepare_own_card(path, backbone_weights, self)
        else:
            card, sources = prepare_official_card(path, backbone_weights,
                                                  self._catalogue() if releases is None else releases, model_id, name)
        if model_id:
            card.id = model_id
        if name:
            card.name = name
        self._refuse_duplicate(card, renamable=not from_pack)
        _pin_external_weights(card)
        if verify_load:
            from .loading import load_network_from_sources

            load_network_from_sources(card, sources, device="cpu", dtype=None, check_only=True)
        with self._writing():
            return self._commit(card, sources)

    def _refuse_duplicate(self, card: ModelCard, renamable: bool = True) -> None:
        dec = card.file("decoder")
        for other in self._imported() + self._embedded():
            if other.id == card.id:
                how = ("or import with another --id" if renamable
                       else f"(`declip models remove {card.id}`) to import this one")
                raise ModelStoreError(f"a model with id {card.id!r} is already in the store; remove it first {how}")
            o = other.file("decoder")
            # the same weights run differently (flip averaging) make another model, not a duplicate
            if dec and o and dec.get("sha256") and dec.get("sha256") == o.get("sha256") \
                    and card.flip_average == other.flip_average:
                raise ModelStoreError(f"{dec.get('name')}: already imported as {other.id!r} (same SHA-256)")

    def _commit(self, card: ModelCard, sources: dict[str, Path]) -> ModelCard:
        # Whatever prepared the card, its id and file names are joined to store paths: check again.
        check_model_id(card.id)
        for f in card.files:
            check_file_name(f["name"], f"{f['role']} file")
        target = self.models_dir / card.id
        tmp = self.models_dir / f".{card.id}{IMPORTING_SUFFIX}"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        root = self.models_dir.resolve()
        if target.resolve().parent != root or tmp.resolve().parent != root:
            raise ModelStoreError(f"{target}: not a folder inside the model store {self.models_dir}")
        if tmp.exists():
            if _in_use(tmp, started=time.time()):
                raise ModelStoreError(f"model {card.id!r} is being imported by another process; try again after it")
            shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with _locked(tmp):
            return self._fill(card, sources, tmp, target)

    def _fill(self, card: ModelCard, sources: dict[str, Path], tmp: Path, target: Path) -> ModelCard:
        try:
            for f in card.files:
                src = sources[f["role"]]
                if f["role"] in MODEL_FILE_ROLES or f.get("store") == "model":
                    dest = tmp / f["name"]
                    _copy_verified(src, dest, f["sha256"])
                    f["path"] = f["name"]
                else:
                    shared = self.backbones_dir / f["sha256"][:16] / f["name"]
                    # a shared copy that no longer matches its name's hash was damaged: replace it
                    if not shared.is_file() or file_sha256(shared) != f["sha256"]:
                        _copy_verified(src, shared, f["sha256"])
                    f["path"] = os.path.relpath(shared, target)
            card.created_utc = card.created_utc or utc_now()
            card.extra["imported_utc"] = utc_now()  # created_utc may be the training's time
            card.builtin = False
            card.save(tmp)
            if target.exists():
                raise ModelStoreError(f"{target}: already exists")
            os.replace(tmp, target)
            (target / LOCK_NAME).unlink(missing_ok=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        card.root = target
        return card

    # ---- verify / remove ----------------------------------------------------------------
    def verify(self, model_id: str) -> list[dict]:
        """Re-hash every file the card uses, wherever it lives (its own files, and a backbone
        weights_path outside the store)."""
        from .loading import external_weight_specs

        card = self.find(model_id).card
        rows = []
        for spec in external_weight_specs(card.backbone):
            p, want = Path(spec["weights_path"]), spec.get("weights_sha256")
            actual = file_sha256(p) if p.is_file() else None
            problem = ("missing" if actual is None else "no hash recorded at import (re-import to pin it)" if not want
                       else None if actual == want else "hash mismatch")
            rows.append({"role": "backbone weights", "name": str(p), "expected": want, "actual": actual,
                         "ok": problem is None, "problem": problem})
        for f in card.files:
            p = card.path_of(f["role"])
            if p is None or not p.is_file():
                rows.append({"role": f["role"], "name": f["name"], "expected": f.get("sha256"), "actual": None,
                             "ok": False, "problem": "missing"})
                continue
            actual = file_sha256(p)
            ok = actual == f.get("sha256")
            rows.append({"role": f["role"], "name": f["name"], "expected": f.get("sha256"), "actual": actual,
                         "ok": ok, "problem": None if ok else "hash mismatch"})
        return rows

    def remove(self, model_id: str) -> str | None:
        """Remove an imported model; returns None, or why its card was unreadable (such a folder is
        no model to find by id, but it is removed all the same: the user must be able to clear it)."""
        check_model_id(model_id)
        try:
            entry = self.find(model_id)
        except ModelStoreError:
            problem = self._unreadable(model_id)
            if problem is None:
                raise
            self._delete_folder(model_id, self.models_dir / model_id)
            return problem
        if entry.location != "store":
            raise ModelStoreError(f"model {model_id!r} is {entry.location}, not an imported model; it cannot be removed")
        # Delete only the folder this entry's card.json was read from, and only when it is a real
        # folder directly inside the store (not a link leading elsewhere).
        self._delete_folder(model_id, entry.card.root)
        return None

    def _unreadable(self, model_id: str) -> str | None:
        """Why the store folder of this id holds no readable card, or None (no such folder, or it reads)."""
        folder = self.models_dir / model_id
        if folder.is_symlink() or not folder.is_dir():
            return None
        try:
            ModelCard.load(folder)
        except DeclipError as exc:
            return str(exc)
        except Exception as exc:  # as _imported: any failure to read makes it unreadable
            return f"{type(exc).__name__}: {exc}"
        return None

    def _delete_folder(self, model_id: str, folder: Path | None) -> None:
        store_root = self.models_dir.resolve()
        if (folder is None or folder.is_symlink() or not folder.is_dir()
                or folder.resolve().parent != store_root or folder.resolve() == store_root):
            raise ModelStoreError(f"model {model_id!r}: its folder {folder} is not inside the model store "
                                  f"{self.models_dir}; not removed")
        with self._writing():
            shutil.rmtree(folder.resolve())
            if self._settings().get("default_model") == model_id:
                s = self._settings()
                s.pop("default_model", None)
                write_text_atomic(self.settings_path, json.dumps(s, indent=2) + "\n")


def find_card(model: str | os.PathLike | None = None) -> ModelCard:
    """The card Detector.from_model(model) loads: a store id or a model folder; None = the default.
    Here, not in engine.detector, so that it is read without importing torch (the CLI's reader thread
    prepares the network's input from it while torch is still importing)."""
    if model is not None and looks_like_path(model):
        if not Path(model).is_dir():
            raise ModelStoreError(f"{model}: no such model folder (a folder holding card.json)")
        return ModelCard.load(model)
    store = ModelStore()
    try:
        return store.get(model or store.default_id)
    except ModelStoreError as exc:
        if model and Path(model).is_dir():  # never silently the folder: say how to mean it
            raise ModelStoreError(f"{exc}; a folder named {model!r} is here: to run it, "
                                  f"give it as a path (./{model})") from None
        raise


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold folder/.lock while the folder is written, so no other process sweeps it as stale."""
    with open(folder / LOCK_NAME, "w") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def _in_use(folder: Path, started: float = _STARTED) -> bool:
    """Whether a live process may still be writing this temp folder: it is locked, or it changed
    after `started` (this process's start: another import may not have locked it yet)."""
    try:
        if folder.stat().st_mtime >= started:
            return True
        if fcntl is None:
            return time.time() - folder.stat().st_mtime < 24 * 3600
        with open(folder / LOCK_NAME, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return True  # cannot tell: leave it


def _pin_external_weights(card: ModelCard) -> None:
    """Record the SHA-256 of each backbone weights file the card points at outside the store, so
    `models verify` and every analysis can tell when it changes. A hash the card already carries
    must match."""
    from .loading import external_weight_specs

    for spec in external_weight_specs(card.backbone):
        path = Path(spec["weights_path"]).expanduser()
        if not path.is_file():
            raise ModelStoreError(f"{path}: the backbone weights this model card names are missing")
        actual = file_sha256(path)
        if spec.get("weights_sha256") and spec["weights_sha256"].lower() != actual:
            raise CheckpointError(f"{path}: SHA-256 {actual} differs from the card's weights_sha256 "
                                  f"{spec['weights_sha256']}")
        spec["weights_path"] = str(path.resolve())
        spec["weights_sha256"] = actual


def _copy_verified(src: Path, dest: Path, sha: str) -> None:
    """Copy and re-hash the copy, so the store never holds a file that differs from the one hashed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        for block in iter(lambda: fi.read(1 << 22), b""):
            h.update(block)
            fo.write(block)
        fo.flush()
        os.fsync(fo.fileno())
    if h.hexdigest() != sha:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{src}: changed while importing (SHA-256 differs)")
    os.replace(tmp, dest)
