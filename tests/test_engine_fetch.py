"""`declip models fetch` against a real local HTTP server laid out like the release bucket (no network)."""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from declip_desktop.cli import main as declip
from engine import fetch as fetch_mod
from engine.download import DownloadError, download
from engine.errors import Cancelled
from engine.fetch import LicenceNotAccepted, fetch_models, first_seen, release_cards
from engine.hashing import file_sha256
from engine.store import ModelStore
from engine.testing import make_official_checkpoint
from tests.fetch_support import ForwardProxy, bucket, served, write_cards  # noqa: F401  (fixtures)

VIT_PATH = "/bitdefender_ml_artifacts/declip/backbone_VIT/ViT_layer20_conv-20_ldm.pth"


def _catalogue(served, tmp_path, direct=True):
    srv, files = served
    return release_cards(write_cards(files, tmp_path / "cards", srv.url if direct else None))


def _use(monkeypatch, catalogue):
    monkeypatch.setattr(fetch_mod, "release_cards", lambda folder=None: catalogue)


def _store_is_empty(store: ModelStore) -> bool:
    models = list(store.models_dir.iterdir()) if store.models_dir.exists() else []
    shared = list(store.backbones_dir.rglob("*")) if store.backbones_dir.exists() else []
    downloads = [p for p in (store.home / "downloads").rglob("*") if p.is_file()] \
        if (store.home / "downloads").exists() else []
    return not models and not [p for p in shared if p.is_file()] and not downloads


def test_fetch_installs_shares_clip_and_records_first_seen(served, tmp_path, monkeypatch, capsys):
    srv, files = served
    _use(monkeypatch, _catalogue(served, tmp_path))
    rc = declip(["models", "fetch", "declip-vit-ldm", "declip-vit-rn50-ldm", "--accept-licence"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "CC BY-NC-SA 4.0" in err and "MIT" in err  # the licences were shown
    store = ModelStore()
    for mid in ("declip-vit-ldm", "declip-vit-rn50-ldm"):
        assert store.find(mid).status == "ready"
        assert all(r["ok"] for r in store.verify(mid))
    vit_requests = [r for r in srv.requests if r["path"].endswith("/ViT-L-14.pt")]
    assert len(vit_requests) == 1  # the shared CLIP file is fetched once for both models
    card = store.get("declip-vit-ldm")
    dec = card.file("decoder")
    assert dec["sha256"] == file_sha256(files["vit"])
    assert dec["sha256_origin"] == "first seen" and dec["first_seen"]["url"].endswith(VIT_PATH)
    assert dec["licence"] == "CC BY-NC-SA 4.0" and dec["licence_accepted"]["how"] == "--accept-licence"
    clip = card.file("clip-vit")
    assert clip["sha256_origin"].startswith("published") and clip["licence"] == "MIT"
    ledger = first_seen(store.home)
    assert ledger["ViT_layer20_conv-20_ldm.pth"]["sha256"] == dec["sha256"]
    assert ledger["ViT_layer20_conv-20_ldm.pth"]["utc"].endswith("Z")
    assert not (store.home / "downloads").exists()  # downloads are removed once imported
    assert declip(["models", "show", "declip-vit-ldm"]) == 0
    assert "first seen" in capsys.readouterr().out
    # the fetched model analyses through the normal engine path
    from engine import Detector

    res = Detector.from_model("declip-vit-ldm", device="cpu").analyze(np.zeros((64, 64, 3), np.uint8))
    assert res.probability.shape == (64, 64)
    # a second fetch of an installed model downloads nothing
    before = len(srv.requests)
    assert declip(["models", "fetch", "declip-vit-ldm", "--accept-licence"]) == 0
    assert len(srv.requests) == before


def test_resume_after_cut_connection(served, tmp_path):
    srv, files = served
    srv.cut_after[VIT_PATH] = 1_500_000
    cards = fetch_models(["declip-vit-ldm"], catalogue=_catalogue(served, tmp_path), accept=True, backoff=0.01)
    dec_requests = [r for r in srv.requests if r["path"] == VIT_PATH]
    assert [r["range"] for r in dec_requests] == [None, "bytes=1500000-"]
    assert cards[0].file("decoder")["sha256"] == file_sha256(files["vit"])


def test_a_stalled_transfer_times_out_and_is_retried(served, tmp_path):
    srv, files = served
    srv.stall_once[VIT_PATH] = 3.0
    said = []
    digest = download(srv.url + VIT_PATH, tmp_path / "x.pth", sha256=file_sha256(files["vit"]), timeout=0.5,
                      backoff=0.01, log=said.append)
    assert digest == file_sha256(files["vit"])
    ranges = [r["range"] for r in srv.requests]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert said and "retry 1 of 5" in said[0]


def test_cancel_keeps_part_and_next_run_resumes(served, tmp_path):
    srv, files = served
    srv.throttle = 2_000_000  # bytes/s, so that the cancel lands mid-file
    url = srv.url + VIT_PATH
    dest = tmp_path / "dl" / "ViT_layer20_conv-20_ldm.pth"
    seen = []

    def progress(p):
        seen.append(p)

    with pytest.raises(Cancelled):
        download(url, dest, progress=progress, cancelled=lambda: len(seen) >= 3)
    part = dest.with_name(dest.name + ".part")
    assert part.is_file() and 0 < part.stat().st_size < files["vit"].stat().st_size
    assert seen[-1].total == files["vit"].stat().st_size and seen[-1].rate > 0 and seen[-1].eta is not None
    kept = part.stat().st_size
    srv.throttle = None
    digest = download(url, dest, sha256=file_sha256(files["vit"]))
    assert digest == file_sha256(files["vit"]) and not part.exists() and dest.is_file()
    assert srv.requests[-1]["range"] == f"bytes={kept}-"


def test_wrong_hash_is_refused_and_nothing_is_left(served, tmp_path):
    srv, files = served
    catalogue = _catalogue(served, tmp_path)
    data = bytearray(files["clip-vit"].read_bytes())
    data[5000] ^= 0xFF  # the mirror serves a corrupted CLIP file with the right size
    files["clip-vit"].write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="SHA-256 .* does not match"):
        fetch_models(["declip-vit-ldm"], catalogue=catalogue, accept=True)
    store = ModelStore()
    assert _store_is_empty(store)
    assert not first_seen(store.home)  # a failed fetch records nothing


def test_first_seen_is_enforced_on_later_fetches(served, tmp_path, capsys, monkeypatch):
    srv, files = served
    catalogue = _catalogue(served, tmp_path)
    fetch_models(["declip-vit-ldm"], catalogue=catalogue, accept=True)
    store = ModelStore()
    recorded = first_seen(store.home)["ViT_layer20_conv-20_ldm.pth"]
    store.remove("declip-vit-ldm")
    # the publisher's file changes: same name, different weights
    make_official_checkpoint(files["vit"], arch="vit", layer=0, depth=20, seed=9)
    _use(monkeypatch, catalogue)
    rc = declip(["models", "fetch", "declip-vit-ldm", "--accept-licence"])
    err = capsys.readouterr().err
    assert rc == 1 and "first seen" in err and recorded["utc"] in err
    assert first_seen(store.home)["ViT_layer20_conv-20_ldm.pth"] == recorded
    assert not store.models_dir.exists() or not any(store.models_dir.iterdir())


def test_proxy_environment_variable_is_honoured(served, tmp_path, monkeypatch):
    srv, files = served
    for var in ("no_proxy", "NO_PROXY", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with ForwardProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        fetch_models(["declip-vit-ldm"], catalogue=_catalogue(served, tmp_path), accept=True)
    assert proxy.seen and all(u.startswith(srv.url) for u in proxy.seen)  # absolute URIs: proxy requests
    assert {r["via"] for r in srv.requests} == {"1.1 test-proxy"}  # every request came through the proxy
    assert ModelStore().find("declip-vit-ldm").status == "ready"


def test_base_url_points_at_a_mirror_with_the_original_paths(served, tmp_path, monkeypatch, capsys):
    srv, files = served
    _use(monkeypatch, _catalogue(served, tmp_path, direct=False))  # real addresses in the cards
    rc = declip(["models", "fetch", "declip-vit-rn50-ldm", "--accept-licence", "--base-url", srv.url + "/"])
    assert rc == 0, capsys.readouterr().err
    paths = {r["path"] for r in srv.requests}
    assert "/bitdefender_ml_artifacts/declip/backbone_VIT%2BRN50/ViT_layer20%2BRN50_layer3_conv-20_ldm.pth" in paths
    card = ModelStore().get("declip-vit-rn50-ldm")
    assert all(f["url"].startswith(srv.url + "/") for f in card.files)
    with pytest.raises(SystemExit) as usage:
        declip(["models", "fetch", "declip-vit-ldm", "--base-url", "ftp://mirror"])
    assert usage.value.code == 2


def test_licence_refused_downloads_nothing(served, tmp_path, monkeypatch, capsys):
    srv, files = served
    _use(monkeypatch, _catalogue(served, tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to ask on
    rc = declip(["models", "fetch", "declip-vit-ldm"])
    err = capsys.readouterr().err
    assert rc == 1 and "not accepted" in err and "CC BY-NC-SA 4.0" in err
    with pytest.raises(LicenceNotAccepted):
        fetch_models(["declip-vit-ldm"], catalogue=_catalogue(served, tmp_path), accept=lambda text: False)
    assert srv.requests == [] and _store_is_empty(ModelStore())


def test_http_errors_are_one_line_and_name_the_mirror_option(served, tmp_path):
    srv, files = served
    srv.status_override[VIT_PATH] = 403
    with pytest.raises(DownloadError, match="403.*--base-url"):
        fetch_models(["declip-vit-ldm"], catalogue=_catalogue(served, tmp_path), accept=True, backoff=0.01)
    assert len([r for r in srv.requests if r["path"] == VIT_PATH]) == 1  # a refusal is not retried
    assert _store_is_empty(ModelStore())


def test_fetch_list_shows_the_shipped_releases(capsys):
    assert declip(["models", "fetch", "--list"]) == 0
    out = capsys.readouterr().out
    for mid in ("declip-vit-ldm", "declip-vit-cocosd", "declip-vit-rn50-repaint-p2-9k"):
        assert mid in out
    assert "CC BY-NC-SA 4.0" in out and "MIT" in out and "not installed" in out and "932.8 MB" in out


def test_shipped_release_cards_carry_addresses_and_published_clip_hashes():
    cards = release_cards()
    assert len(cards) == 9
    for c in cards:
        dec = c.file("decoder")
        assert dec["url"].startswith("https://storage.googleapis.com/bitdefender_ml_artifacts/declip/backbone_VIT")
        assert "+" not in dec["url"] and dec["sha256"] is None
        vit = c.file("clip-vit")
        assert vit["url"].endswith(f"/{vit['sha256']}/ViT-L-14.pt") and vit["size"] == 932768134


def test_fetch_into_a_pack_then_import_it_elsewhere(served, tmp_path, monkeypatch, capsys):
    srv, files = served
    _use(monkeypatch, _catalogue(served, tmp_path))
    pack = tmp_path / "out" / "vit-ldm.declipmodel"
    assert declip(["models", "fetch", "declip-vit-ldm", "--accept-licence", "--pack", str(pack)]) == 0
    err = capsys.readouterr().err
    assert pack.is_file() and file_sha256(pack) in err
    assert not ModelStore().models_dir.exists() or not any(ModelStore().models_dir.iterdir())
    assert [p.name for p in pack.parent.iterdir()] == [pack.name]  # the temporary store is gone
    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "airgapped"))
    assert declip(["models", "import", str(pack)]) == 0
    card = ModelStore().get("declip-vit-ldm")
    assert card.file("decoder")["sha256_origin"] == "first seen"
    assert card.file("decoder")["sha256"] == file_sha256(files["vit"])
    assert all(r["ok"] for r in ModelStore().verify("declip-vit-ldm"))


def test_fetch_into_a_pack_stages_in_the_store_where_a_killed_run_is_swept(served, tmp_path, monkeypatch):
    # A fetch killed while it builds the pack must leave nothing beside the user's pack (a folder of
    # evidence or reports): its temporary store is in the model store's own staging area, locked while
    # in use, which the next run sweeps.
    import engine.packs as packs
    from engine.store import PACK_STAGING_PREFIX

    _use(monkeypatch, _catalogue(served, tmp_path))
    pack = tmp_path / "out" / "vit-ldm.declipmodel"
    seen = {}
    real = packs.pack_model

    def spy(store, model_id, path):
        seen["home"] = Path(store.home)
        seen["beside_pack"] = sorted(p.name for p in path.parent.iterdir())
        seen["swept_while_in_use"] = ModelStore().sweep_stale(force=True)
        return real(store, model_id, path)

    monkeypatch.setattr(packs, "pack_model", spy)
    assert declip(["models", "fetch", "declip-vit-ldm", "--accept-licence", "--pack", str(pack)]) == 0
    home = ModelStore().home
    assert seen["home"].parent == home and seen["home"].name.startswith(PACK_STAGING_PREFIX)
    assert seen["beside_pack"] == [] and seen["swept_while_in_use"] == []
    assert not seen["home"].exists()
    # what a killed run leaves (an unlocked staging folder) goes at the next sweep
    left = home / f"{PACK_STAGING_PREFIX}killed"
    (left / "models").mkdir(parents=True)
    os.utime(left, (1e9, 1e9))  # made before this process started, as a killed run's is
    assert ModelStore().sweep_stale(force=True) == [left] and not left.exists()


def test_models_pack_round_trip(served, tmp_path, monkeypatch, capsys):
    srv, files = served
    fetch_models(["declip-vit-rn50-ldm"], catalogue=_catalogue(served, tmp_path), accept=True)
    capsys.readouterr()
    out = tmp_path / "fusion.declipmodel"
    assert declip(["models", "pack", "declip-vit-rn50-ldm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"SHA-256 {file_sha256(out)}" in printed
    before = ModelStore().get("declip-vit-rn50-ldm")
    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "other"))
    assert declip(["models", "import", str(out)]) == 0
    after = ModelStore().get("declip-vit-rn50-ldm")
    assert [(f["role"], f["sha256"]) for f in after.files] == [(f["role"], f["sha256"]) for f in before.files]
    assert after.backbone == before.backbone and after.decoder == before.decoder
    again = declip(["models", "import", str(out)])
    assert again == 1 and "already" in capsys.readouterr().err
    listing = json.loads((ModelStore().models_dir / "declip-vit-rn50-ldm" / "card.json").read_text())
    assert listing["files"][0]["licence_accepted"]["how"] == "--accept-licence"


def test_dest_keeps_the_verified_files(served, tmp_path):
    srv, files = served
    dest = tmp_path / "mirror"
    fetch_models(["declip-vit-ldm"], catalogue=_catalogue(served, tmp_path), accept=True, dest=dest)
    kept = sorted(p.name for p in dest.iterdir())
    assert kept == ["ViT-L-14.pt", "ViT_layer20_conv-20_ldm.pth"]
    assert file_sha256(dest / "ViT-L-14.pt") == file_sha256(files["clip-vit"])
    assert ModelStore().find("declip-vit-ldm").status == "ready"


def test_a_damaged_clip_copy_in_the_store_is_fetched_again_never_labelled_published(served, tmp_path, capsys):
    srv, files = served
    catalogue = _catalogue(served, tmp_path)
    published = file_sha256(files["clip-vit"])
    store = ModelStore()
    shared = store.backbones_dir / published[:16] / "ViT-L-14.pt"
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"not the published file")
    logged = []
    fetch_models(["declip-vit-ldm"], catalogue=catalogue, accept=True, log=logged.append)
    assert any("differs from the published SHA-256" in m for m in logged)
    assert len([r for r in srv.requests if r["path"].endswith("/ViT-L-14.pt")]) == 1  # downloaded again
    assert file_sha256(shared) == published  # the damaged copy was replaced
    clip = store.get("declip-vit-ldm").file("clip-vit")
    assert clip["sha256"] == published and clip["sha256_origin"].startswith("published")
    assert all(r["ok"] for r in store.verify("declip-vit-ldm"))


def test_no_network_is_said_plainly_and_not_retried(tmp_path, monkeypatch):
    import socket
    import time
    import urllib.error

    from engine import download as download_mod

    class Offline:
        def open(self, *a, **k):
            raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(download_mod, "opener", lambda: Offline())
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as exc:
        download("https://example.invalid/x.pth", tmp_path / "x.pth", retries=5, backoff=2.0)
    msg = str(exc.value)
    assert "the network is unreachable (cannot resolve example.invalid)" in msg and "--base-url" in msg
    assert "resuming" not in msg and "attempts" not in msg and time.monotonic() - t0 < 1.5


def test_one_failed_attempt_is_singular(tmp_path, monkeypatch):
    from engine import download as download_mod

    class Refused:
        def open(self, *a, **k):
            raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(download_mod, "opener", lambda: Refused())
    with pytest.raises(DownloadError, match=r"failed after 1 attempt \("):
        download("https://example.invalid/x.pth", tmp_path / "x.pth", retries=0)
