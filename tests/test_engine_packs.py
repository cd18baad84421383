"""Model packs (.declipmodel): a round trip, and hostile packs refused before anything enters the store."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import struct
import zipfile

import pytest

from engine.errors import CheckpointError, ModelStoreError
from engine.hashing import file_sha256
from engine.packs import CARD_NAME, SUMS_NAME, PackError, import_pack, pack_model
from engine.store import ModelStore
from engine.testing import make_tiny_model_dir


@pytest.fixture(scope="module")
def good_pack(tmp_path_factory):
    """A pack of a tiny own-format model, written from a store of its own."""
    d = tmp_path_factory.mktemp("pack")
    store = ModelStore(home=d / "home")
    store.import_path(make_tiny_model_dir(d / "tiny", model_id="tiny-pack"))
    path, digest = pack_model(store, "tiny-pack", d / "tiny.declipmodel")
    assert digest == file_sha256(path)
    return path


def _entries(pack) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(pack) as zf:
        return [(i, zf.read(i)) for i in zf.infolist()]


def _write(path, entries, sums: dict | None = None, compress=zipfile.ZIP_STORED):
    """Write entries [(name or ZipInfo, bytes)]; SHA256SUMS is rebuilt to list `sums` (default: all)."""
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        listed = {}
        for info, data in entries:
            name = info if isinstance(info, str) else info.filename
            if name == SUMS_NAME:
                continue
            zf.writestr(info, data) if not isinstance(info, str) else zf.writestr(name, data, compress_type=compress)
            listed[name] = hashlib.sha256(data).hexdigest()
        listed = listed if sums is None else sums
        zf.writestr(SUMS_NAME, "".join(f"{h}  {n}\n" for n, h in listed.items()))
    return path


def _assert_nothing_imported(home):
    store = ModelStore()
    assert not store.models_dir.exists() or not any(store.models_dir.iterdir())
    assert not list(store.home.glob(".pack-import-*"))  # the staging folder is gone too


def test_round_trip(good_pack, tmp_path):
    card = import_pack(good_pack)
    store = ModelStore()
    assert card.id == "tiny-pack" and store.find("tiny-pack").status == "ready"
    assert all(r["ok"] for r in store.verify("tiny-pack"))
    names = [i.filename for i, _ in _entries(good_pack)]
    assert names[0] == CARD_NAME and names[-1] == SUMS_NAME
    # the same model packs to the same bytes (fixed entry times), so its SHA-256 can be quoted; the
    # imported card differs from the pack's only by the provenance line naming that pack
    _, again = pack_model(store, "tiny-pack", tmp_path / "again.declipmodel")
    _, third = pack_model(store, "tiny-pack", tmp_path / "third.declipmodel")
    assert again == third != file_sha256(good_pack)
    assert card.source.endswith(f"imported from pack {good_pack.name} (SHA-256 {file_sha256(good_pack)})")


@pytest.mark.parametrize("name", ["../evil.safetensors", "sub/../../evil.safetensors", "/tmp/evil.safetensors",
                                  "C:evil.safetensors", "..\\evil.safetensors"])
def test_traversal_and_absolute_paths_refused(good_pack, tmp_path, name, _isolated_home):
    entries = _entries(good_pack) + [(name, b"x")]
    bad = _write(tmp_path / "bad.declipmodel", entries)
    with pytest.raises(PackError, match="refused: entry .*(absolute|plain file name)"):
        import_pack(bad)
    assert not (tmp_path / "evil.safetensors").exists() and not os.path.exists("/tmp/evil.safetensors")
    _assert_nothing_imported(_isolated_home)


def test_link_entry_refused(good_pack, tmp_path, _isolated_home):
    link = zipfile.ZipInfo("backbone.safetensors")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    entries = [(link, b"/etc/passwd") if i.filename == "backbone.safetensors" else (i, d)
               for i, d in _entries(good_pack)]
    with pytest.raises(PackError, match="is a link"):
        import_pack(_write(tmp_path / "link.declipmodel", entries))
    _assert_nothing_imported(_isolated_home)


def test_extra_files_refused(good_pack, tmp_path, _isolated_home):
    entries = _entries(good_pack) + [("notes.txt", b"hello")]
    listed = {i.filename: hashlib.sha256(d).hexdigest() for i, d in _entries(good_pack) if i.filename != SUMS_NAME}
    with pytest.raises(PackError, match="'notes.txt' is not listed"):
        import_pack(_write(tmp_path / "unlisted.declipmodel", entries, sums=listed))
    with pytest.raises(PackError, match="'notes.txt' is in the pack but not in card.json"):
        import_pack(_write(tmp_path / "listed.declipmodel", entries))  # listed, but no card names it
    _assert_nothing_imported(_isolated_home)


def test_missing_file_refused(good_pack, tmp_path, _isolated_home):
    entries = [(i, d) for i, d in _entries(good_pack) if i.filename != "backbone.safetensors"]
    with pytest.raises(PackError, match="names 'backbone.safetensors', which the pack lacks"):
        import_pack(_write(tmp_path / "missing.declipmodel", entries))
    _assert_nothing_imported(_isolated_home)


def test_zip_bombs_refused(good_pack, tmp_path, _isolated_home):
    zeros = b"\0" * (40 << 20)
    entries = _entries(good_pack)
    card = json.loads(dict((i.filename, d) for i, d in entries)[CARD_NAME])
    card["files"].append({"role": "clip-rn", "name": "bomb.bin", "sha256": hashlib.sha256(zeros).hexdigest()})
    bomb_entries = [(CARD_NAME, json.dumps(card).encode())] + [(i, d) for i, d in entries
                                                                if i.filename != CARD_NAME] + [("bomb.bin", zeros)]
    bomb = _write(tmp_path / "bomb.declipmodel", bomb_entries, compress=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1 << 20  # 40 MB of zeros in well under 1 MB
    with pytest.raises(PackError, match="expands .* times"):
        import_pack(bomb)
    with pytest.raises(PackError, match="over the 1048576-byte bound"):
        import_pack(_write(tmp_path / "big.declipmodel", bomb_entries), max_file_bytes=1 << 20)
    # a size field that lies: the entry declares 1000 bytes but inflates to 40 MB
    liar = tmp_path / "liar.declipmodel"
    data = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("bomb.bin")
    struct.pack_into("<I", data, info.header_offset + 22, 1000)  # local header: uncompressed size
    cd = data.rfind(b"bomb.bin") - 46  # the name's last occurrence is in its central directory record
    assert data[cd:cd + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, cd + 24, 1000)  # central directory: uncompressed size
    liar.write_bytes(bytes(data))
    with pytest.raises(PackError, match="bomb.bin.*(CRC|declares)|(CRC|declares).*bomb.bin"):
        import_pack(liar)  # zipfile stops reading at the declared size, so the CRC cannot match
    _assert_nothing_imported(_isolated_home)


def test_tampered_weights_and_card_refused(good_pack, tmp_path, _isolated_home):
    entries = _entries(good_pack)
    sums = {i.filename: hashlib.sha256(d).hexdigest() for i, d in entries if i.filename != SUMS_NAME}
    flipped = [(i, d[:-1] + bytes([d[-1] ^ 1]) if i.filename == "decoder.safetensors" else d) for i, d in entries]
    with pytest.raises(PackError, match="decoder.safetensors does not match its SHA-256"):
        import_pack(_write(tmp_path / "flip.declipmodel", flipped, sums=sums))
    card = json.loads(dict((i.filename, d) for i, d in entries)[CARD_NAME])
    card["id"] = "../../escape"
    with pytest.raises(ModelStoreError, match="model id"):
        import_pack(_write(tmp_path / "id.declipmodel", [(CARD_NAME, json.dumps(card).encode())] + entries[1:]))
    with pytest.raises(PackError, match="not a model pack"):
        import_pack(_write(tmp_path / "plain.zip.declipmodel", [("a.txt", b"x")]))
    (tmp_path / "garbage.declipmodel").write_bytes(b"not a zip at all")
    with pytest.raises(PackError, match="not a zip"):
        import_pack(tmp_path / "garbage.declipmodel")
    _assert_nothing_imported(_isolated_home)


def test_pickled_code_in_a_pack_never_runs(good_pack, tmp_path, _isolated_home):
    """A pack is only hashed and copied; the weights meet the store's weights_only load, which refuses."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = pickle.dumps({"model": {"fc.0.weight": Payload()}})
    entries = _entries(good_pack)
    card = json.loads(dict((i.filename, d) for i, d in entries)[CARD_NAME])
    for f in card["files"]:
        if f["role"] == "decoder":
            f.update(name="evil.pth", sha256=hashlib.sha256(evil).hexdigest(), format="declip-official")
    rest = [(i, d) for i, d in entries if i.filename not in (CARD_NAME, "decoder.safetensors")]
    bad = _write(tmp_path / "evil.declipmodel", [(CARD_NAME, json.dumps(card).encode())] + rest + [("evil.pth", evil)])
    with pytest.raises(CheckpointError, match="refused"):
        import_pack(bad)
    assert not marker.exists()
    _assert_nothing_imported(_isolated_home)
