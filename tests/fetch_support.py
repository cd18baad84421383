"""A local stand-in for the model bucket and for a proxy, for `declip models fetch` tests (no network).

BucketServer serves a folder over real HTTP on 127.0.0.1 with Range support, optional throttling
and an optional cut of the connection after N bytes of chosen files (once per file). ForwardProxy
is a plain HTTP proxy that forwards absolute-URI requests. Both record what they were asked.
make_release_files writes small official-layout checkpoints and CLIP files laid out like the
real addresses, and release cards that point at them.
"""
from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import torch

from engine.hashing import file_sha256

REAL_CARDS = Path(__file__).resolve().parent.parent / "resources" / "cards"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Running:
    """An HTTP server on 127.0.0.1 (any free port) in a thread, for a `with` block."""

    def _start(self, handler) -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class BucketServer(_Running):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[dict] = []
        self.throttle: float | None = None  # bytes per second
        self.cut_after: dict[str, int] = {}  # url path -> bytes sent before the first cut
        self.status_override: dict[str, int] = {}
        self.stall_once: dict[str, float] = {}  # url path -> seconds of silence mid-file, first request only
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet test output
                pass

            def do_GET(self):
                owner._serve(self)

        self._start(Handler)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        self.requests.append({"path": path, "range": h.headers.get("Range"), "via": h.headers.get("Via"),
                              "agent": h.headers.get("User-Agent")})
        if path in self.status_override:
            h.send_response(self.status_override[path])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        f = self.root / unquote(path).lstrip("/")
        if not f.is_file():
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        data = f.read_bytes()
        start, end = 0, len(data)
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = int(b) + 1 if b else len(data)
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        else:
            h.send_response(200)
        h.send_header("Content-Length", str(end - start))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        cut = self.cut_after.pop(path, None)
        stall = self.stall_once.pop(path, None)
        body = data[start:end] if cut is None else data[start:start + cut]
        step = 64 << 10
        for i in range(0, len(body), step):
            if stall and i >= len(body) // 2:
                time.sleep(stall)  # the client's read times out meanwhile
                stall = None
                h.close_connection = True
                return
            try:
                h.wfile.write(body[i:i + step])
                h.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            if self.throttle:
                time.sleep(step / self.throttle)
        if cut is not None:
            h.close_connection = True  # the client sees fewer bytes than Content-Length


class ForwardProxy(_Running):
    """An HTTP proxy: the client sends `GET http://host:port/path`; the proxy fetches and relays it."""

    def __init__(self):
        self.seen: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                owner.seen.append(self.path)
                u = urlsplit(self.path)
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("range", "user-agent")}
                headers["Via"] = "1.1 test-proxy"
                conn.request("GET", u.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                self.send_response(resp.status)
                for k in ("Content-Range", "Accept-Ranges"):
                    if resp.getheader(k):
                        self.send_header(k, resp.getheader(k))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                conn.close()

        self._start(Handler)


def _torchscript_clip(visual: torch.nn.Module, path: Path) -> None:
    """A TorchScript archive with a `visual` child, like OpenAI's ViT-L-14.pt / RN50.pt."""

    class Clip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = visual

        def forward(self, x):
            return self.visual.conv1(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # jit is deprecated, but OpenAI ships TorchScript
        traced = torch.jit.trace(Clip().eval(), torch.randn(1, 3, 64, 64))
    traced.half().save(str(path))


def make_release_files(root: Path) -> dict:
    """Bucket-like folders with one ViT and one fusion checkpoint (ldm) and both CLIP files.

    Returns {relative url path: local file} for the four files."""
    from engine.backbones import build_backbone
    from engine.testing import make_official_checkpoint

    root = Path(root)
    vit_dir = root / "bitdefender_ml_artifacts" / "declip" / "backbone_VIT"
    fus_dir = root / "bitdefender_ml_artifacts" / "declip" / "backbone_VIT+RN50"
    vit_dir.mkdir(parents=True)
    fus_dir.mkdir(parents=True)
    vit_ckpt = make_official_checkpoint(vit_dir / "ViT_layer20_conv-20_ldm.pth", arch="vit", layer=0, depth=20, seed=1)
    fus_ckpt = make_official_checkpoint(fus_dir / "ViT_layer20+RN50_layer3_conv-20_ldm.pth", arch="fusion",
                                        layer=0, depth=20, seed=2)
    torch.manual_seed(5)  # the backbones' own random initialisation is weights enough for tests
    vit = build_backbone({"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": 0})
    rn = build_backbone({"family": "clip-rn", "config": "RN50-quickgelu", "layer": 3})
    out = {"vit": vit_ckpt, "fusion": fus_ckpt}
    for key, module, name in (("clip-vit", vit, "ViT-L-14.pt"), ("clip-rn", rn, "RN50.pt")):
        tmp = root / name
        _torchscript_clip(module.visual, tmp)
        sha = file_sha256(tmp)
        dest = root / "clip" / "models" / sha / name
        dest.parent.mkdir(parents=True)
        shutil.move(tmp, dest)
        out[key] = dest
    return out


def write_cards(files: dict, folder: Path, base: str | None) -> Path:
    """Release cards copied from the shipped ones, with the fake CLIP files' hashes and sizes.

    base None keeps the real addresses (for --base-url); otherwise addresses point at `base`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for cid in ("declip-vit-ldm", "declip-vit-rn50-ldm"):
        card = json.loads((REAL_CARDS / f"{cid}.json").read_text())
        # the small stand-ins' architecture (make_release_files): an import checks a release against its card
        card["decoder"]["widths"] = [32, 16, 8, 8]
        vit = card["backbone"]["vit"] if "vit" in card["backbone"] else card["backbone"]
        vit["layer"] = 0
        for f in card["files"]:
            if f["role"] in files:
                local = files[f["role"]]
                f["sha256"], f["size"] = file_sha256(local), local.stat().st_size
                f["url"] = f"https://openaipublic.azureedge.net/clip/models/{f['sha256']}/{f['name']}"
            if base:
                f["url"] = base + urlsplit(f["url"]).path
        (folder / f"{cid}.json").write_text(json.dumps(card, indent=2))
    return folder


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    """(root, files): the release files, written once per test module."""
    root = tmp_path_factory.mktemp("bucket")
    return root, make_release_files(root)


@pytest.fixture
def served(bucket, tmp_path):
    """(server, files): a fresh copy of the bucket (tests may alter files) served on 127.0.0.1."""
    root = tmp_path / "served"
    shutil.copytree(bucket[0], root)
    files = {k: root / p.relative_to(bucket[0]) for k, p in bucket[1].items()}
    with BucketServer(root) as srv:
        yield srv, files
