"""engine.cpu.cpu_text_if_cpu: the one rule for 'state the CPU only for a CPU map' that the report's device
row, the metadata dock and the reproduce section share."""
from engine.cpu import cpu_text, cpu_text_if_cpu, is_cpu

CPU = {"model": "Test CPU 9000", "vector_extensions": ["avx2", "avx512f"], "torch_kernels": "AVX512"}


def test_is_cpu_reads_the_recorded_device():
    assert is_cpu("cpu") and is_cpu("cpu:0")
    assert not is_cpu("cuda:0") and not is_cpu("mps") and not is_cpu(None) and not is_cpu("")


def test_cpu_text_only_for_a_cpu_device():
    assert cpu_text_if_cpu("cpu", CPU) == cpu_text(CPU) == "Test CPU 9000, avx2 avx512f (torch kernels AVX512)"
    assert cpu_text_if_cpu("cuda:0", CPU) == ""   # a GPU map's bits do not depend on the host CPU
    assert cpu_text_if_cpu(None, CPU) == ""       # no device recorded: nothing claimed


def test_nothing_recorded_gives_no_text():
    assert cpu_text_if_cpu("cpu", None) == ""
    assert cpu_text_if_cpu("cpu", "not a record") == ""


def test_report_and_dock_use_the_rule():
    from declip_desktop.metadata_presenter import metadata_sections
    from declip_desktop.report.item_page import device_text

    assert device_text({"device_name": "CUDA GPU", "device": "cuda:0", "cpu": CPU}) == "CUDA GPU (cuda:0)"
    assert device_text({"device_name": "CPU (2 threads)", "device": "cpu", "cpu": CPU}).endswith(
        " · Test CPU 9000, avx2 avx512f (torch kernels AVX512)")

    class Item:
        id, sha256, md5, size, file_name, original_name, original_path = 1, "s", "m", 1, "a.png", "a.png", "/a.png"
        original_mtime_utc = ingested_utc = None
        format, width, height, metadata = "PNG", 1, 1, {}

    for device, shown in (("cpu", True), ("cuda:0", False)):
        sections = metadata_sections(Item(), {"metadata": {"device": device, "cpu": CPU}})
        assert ("cpu" in next(v for k, v in sections.items() if isinstance(v, dict) and "device" in v)) == shown
