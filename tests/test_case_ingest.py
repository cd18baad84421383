"""Ingest: copies, hashes, metadata, duplicates, skipped files, name clashes, resume."""
from __future__ import annotations

import hashlib
import os
import stat
import sys

from PIL import Image

from declip_desktop.case import Case
from tests.case_support import make_jpeg, make_png, new_case, snapshot


def test_ingest_files_and_folders_recursively(tmp_path):
    src = tmp_path / "src"
    a = make_jpeg(src / "a.jpg", seed=1)
    make_png(src / "deep" / "deeper" / "b.png", seed=2)
    (src / "notes.txt").write_text("not an image")
    with new_case(tmp_path) as case:
        rep = case.add_paths([src])
        assert [it.file_name for it in rep.added] == ["a.jpg", "b.png"]
        assert [it.id for it in case.evidence] == ["E0001", "E0002"]
        assert len(rep.skipped) == 1 and rep.skipped[0].path.endswith("notes.txt")
        assert "not an image" in rep.skipped[0].reason
        it = case.item("E0001")
        data = a.read_bytes()
        assert it.sha256 == hashlib.sha256(data).hexdigest()
        assert it.md5 == hashlib.md5(data).hexdigest()
        assert it.size == len(data)
        assert (it.width, it.height) == (48, 40)
        assert it.path == case.path / "evidence" / "a.jpg"
        assert it.path.read_bytes() == data
        assert it.original_path == str(a.resolve())


def test_a_linked_folder_is_reported_as_skipped_not_dropped_silently(tmp_path):
    src, other = tmp_path / "src", tmp_path / "other"
    make_jpeg(src / "a.jpg", seed=1)
    make_jpeg(other / "elsewhere.jpg", seed=2)
    (src / "linkdir").symlink_to(other, target_is_directory=True)
    with new_case(tmp_path) as case:
        rep = case.add_paths([src])
        assert [it.file_name for it in rep.added] == ["a.jpg"]  # the link is not followed ...
        [skip] = rep.skipped  # ... and the examiner is told, with what to do
        assert skip.path.endswith("linkdir") and "link to a folder, not followed" in skip.reason


def test_originals_unchanged_copies_read_only_mtime_kept(tmp_path):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_png(src / "b.png", seed=2)
    os.utime(src / "a.jpg", ns=(1_500_000_000_000_000_000, 1_500_000_000_123_456_789))
    before = snapshot(src)
    with new_case(tmp_path) as case:
        case.add_paths([src])
        for it in case.evidence:
            mode = os.stat(it.path).st_mode
            assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0, oct(mode)
        assert os.stat(case.item("E0001").path).st_mtime_ns == 1_500_000_000_123_456_789
        assert case.item("E0001").original_mtime_utc.startswith("2017-07-14T02:40:00.123456")
    assert snapshot(src) == before


def test_duplicates_refused_by_hash(tmp_path):
    src = tmp_path / "src"
    a = make_jpeg(src / "a.jpg", seed=1)
    copy = tmp_path / "elsewhere" / "renamed.jpg"
    copy.parent.mkdir()
    copy.write_bytes(a.read_bytes())
    with new_case(tmp_path) as case:
        assert len(case.add_paths([a]).added) == 1
        rep = case.add_paths([copy, a])
        assert rep.added == []
        assert [d.existing_id for d in rep.duplicates] == ["E0001", "E0001"]
        assert "duplicate of E0001" in rep.duplicates[0].reason
        assert len(case.evidence) == 1
        # Within one run as well.
        b = make_png(tmp_path / "x" / "b.png", seed=5)
        b2 = tmp_path / "y" / "b.png"
        b2.parent.mkdir()
        b2.write_bytes(b.read_bytes())
        rep = case.add_paths([b, b2])
        assert len(rep.added) == 1 and len(rep.duplicates) == 1
        assert sorted(os.listdir(case.evidence_dir)) == ["a.jpg", "b.png"]


def test_name_clash_gets_suffix(tmp_path):
    one = make_jpeg(tmp_path / "one" / "IMG.jpg", seed=1)
    two = make_jpeg(tmp_path / "two" / "IMG.jpg", seed=2)
    three = make_jpeg(tmp_path / "three" / "img.JPG", seed=3)
    with new_case(tmp_path) as case:
        rep = case.add_paths([one, two, three])
        assert [it.file_name for it in rep.added] == ["IMG.jpg", "IMG (2).jpg", "img (3).JPG"]
        assert [it.original_name for it in rep.added] == ["IMG.jpg", "IMG.jpg", "img.JPG"]
        assert case.item("E0002").path.read_bytes() == two.read_bytes()


def test_non_ascii_names_and_notes_survive_reopen(tmp_path):
    f = make_jpeg(tmp_path / "src" / "Zürich – 写真 ü.jpg", seed=4)
    with new_case(tmp_path, "Fall Müller", title="Fälschung? 事件", examiner="Zoë Ørsted") as case:
        case.add_paths([f])
        case.set_finding("E0001", "suspicious", note="Schatten passt nicht – 影が不自然 ✓")
        path = case.path
    with Case.open(path) as case:
        assert case.title == "Fälschung? 事件" and case.examiner == "Zoë Ørsted"
        assert case.evidence[0].file_name == "Zürich – 写真 ü.jpg"
        assert case.evidence[0].path.read_bytes() == f.read_bytes()
        assert case.finding("E0001").note == "Schatten passt nicht – 影が不自然 ✓"
        assert case.resolve("Zürich – 写真 ü.jpg").id == "E0001"
        assert case.verify().ok


def test_metadata_camera_software_gps_jpeg_quality(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif[0x0131] = "GIMP 2.10"
    exif[0x0132] = "2024:01:02 03:04:05"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 30.0, 0.0)
    gps[3] = "W"
    gps[4] = (1.0, 15.0, 0.0)
    f = make_jpeg(tmp_path / "src" / "cam.jpg", quality=75, exif=exif)
    g = make_jpeg(tmp_path / "src" / "q92.jpg", seed=9, quality=92)
    with new_case(tmp_path) as case:
        case.add_paths([f, g])
        md = case.item("E0001").metadata
        assert md["camera_make"] == "Canon" and md["camera_model"] == "EOS 5D"
        assert md["software"] == "GIMP 2.10"
        assert md["datetime_modified"] == "2024:01:02 03:04:05"
        assert md["gps"]["latitude"] == 52.5 and md["gps"]["longitude"] == -1.25
        assert (md["width"], md["height"]) == (48, 40)
        assert md["jpeg"]["estimated_quality"] == 75 and md["jpeg"]["quality_exact_ijg_match"]
        assert len(md["jpeg"]["quantization_tables"]["0"]) == 64
        assert case.item("E0002").metadata["jpeg"]["estimated_quality"] == 92


def test_icc_profile_description(tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    p = tmp_path / "src" / "icc.png"
    p.parent.mkdir()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(p, icc_profile=icc)
    with new_case(tmp_path) as case:
        case.add_paths([p])
        prof = case.item("E0001").metadata["icc_profile"]
        assert prof["bytes"] == len(icc) and "sRGB" in prof["description"]


def test_exif_orientation_gives_displayed_size(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 48x40, displayed 40x48
    f = make_jpeg(tmp_path / "src" / "rot.jpg", exif=exif)
    with new_case(tmp_path) as case:
        it = case.add_paths([f]).added[0]
        assert (it.width, it.height) == (40, 48)
        assert (it.metadata["width"], it.metadata["height"]) == (48, 40)


def test_bad_inputs_each_reported_the_rest_added(tmp_path):
    src = tmp_path / "src"
    make_jpeg(src / "good.jpg", seed=1)
    (src / "empty.jpg").write_bytes(b"")
    (src / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with new_case(tmp_path) as case:
        rep = case.add_paths([src, tmp_path / "does-not-exist.jpg"])
        assert [it.file_name for it in rep.added] == ["good.jpg"]
        reasons = {os.path.basename(i.path): i.reason for i in rep.issues}
        assert "empty" in reasons["empty.jpg"]
        assert "fake.png" in reasons
        assert reasons["does-not-exist.jpg"] == "not found"


def test_truncated_image_is_still_evidence(tmp_path):
    f = make_jpeg(tmp_path / "src" / "t.jpg", size=(200, 200))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with new_case(tmp_path) as case:
        rep = case.add_paths([f])
        assert len(rep.added) == 1
        assert any("damaged" in n for n in rep.added[0].metadata.get("notes", []))


def test_adding_the_case_folder_itself_is_refused(tmp_path):
    with new_case(tmp_path) as case:
        make_jpeg(tmp_path / "a.jpg")
        rep = case.add_paths([tmp_path])  # parent of the case: the case folder must not be walked
        assert [it.file_name for it in rep.added] == ["a.jpg"]
        rep = case.add_paths([case.path])
        assert rep.added == [] and "inside the case" in rep.skipped[0].reason


def test_progress_and_cancel_keep_what_was_added_and_resume(tmp_path):
    src = tmp_path / "src"
    for i in range(5):
        make_jpeg(src / f"{i}.jpg", seed=i)
    calls = []
    with new_case(tmp_path) as case:
        rep = case.add_paths([src], progress=lambda d, t, m: calls.append((d, t)), cancel=lambda: len(calls) >= 2)
        assert rep.cancelled and len(rep.added) == 2
        assert calls[0] == (0, 5)
        path = case.path
    with Case.open(path) as case:
        assert len(case.evidence) == 2
        rep = case.add_paths([src])
        assert len(rep.added) == 3 and len(rep.duplicates) == 2
        assert case.verify().ok


def test_copy_left_by_killed_ingest_is_adopted_on_resume(tmp_path):
    f = make_jpeg(tmp_path / "src" / "a.jpg")
    with new_case(tmp_path) as case:
        # As if a previous run was killed after copying but before the index was written.
        (case.evidence_dir / "a.jpg").write_bytes(f.read_bytes())
        (case.evidence_dir / ".tmp-999-b.jpg").write_bytes(b"partial")
        rep = case.add_paths([f])
        assert rep.added[0].file_name == "a.jpg"
        assert sorted(os.listdir(case.evidence_dir)) == [".tmp-999-b.jpg", "a.jpg"]
        path = case.path
    with Case.open(path) as case:  # opening with the lock clears stale temp files
        assert sorted(os.listdir(case.evidence_dir)) == ["a.jpg"]
        assert case.verify().ok


def test_thumbnail_is_lazy_and_cached(tmp_path):
    f = make_jpeg(tmp_path / "src" / "a.jpg", size=(300, 200))
    with new_case(tmp_path) as case:
        case.add_paths([f])
        assert list(case.thumbs_dir.iterdir()) == []
        t = case.thumbnail("E0001", 64)
        with Image.open(t) as im:
            assert max(im.size) == 64
        mtime = t.stat().st_mtime_ns
        assert case.thumbnail("E0001", 64) == t and t.stat().st_mtime_ns == mtime


def test_thumbnail_of_16_bit_png_keeps_its_greys(tmp_path):
    # A 16-bit PNG's thumbnail was clipped to black and white (Pillow's convert of I;16); it must
    # show the same greys the analysis sees.
    import numpy as np

    src = tmp_path / "src"
    src.mkdir()
    ramp = np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(src / "g16.png")
    with new_case(tmp_path) as case:
        case.add_paths([src / "g16.png"])
        with Image.open(case.thumbnail("E0001", 128)) as im:
            row = np.asarray(im.convert("L"), dtype=np.int16)[32]
    assert abs(int(row[64]) - 128) < 12          # mid-ramp is mid-grey, not white
    assert (np.diff(row[4:-4]) >= -3).all()     # a ramp, not a two-level stencil
    assert len(set(row.tolist())) > 40


def test_ingest_is_logged_per_item(tmp_path):
    f = make_jpeg(tmp_path / "src" / "a.jpg")
    with new_case(tmp_path) as case:
        case.add_paths([f])
        entries = case.audit_entries()
        added = [e for e in entries if e["action"] == "evidence_added"]
        assert len(added) == 1
        d = added[0]["details"]
        assert d["sha256"] == case.item("E0001").sha256 and d["original_path"] == str(f.resolve())
        assert added[0]["examiner"] == "A. Examiner" and added[0]["os_user"]


def test_non_utf8_and_very_long_file_names(tmp_path):
    import pytest

    if os.name == "nt" or sys.platform == "darwin":
        pytest.skip("needs a file system that stores raw bytes in names")
    src = tmp_path / "src"
    make_jpeg(src / "x.jpg", seed=1)
    raw = os.path.join(os.fsencode(src), b"caf\xe9.jpg")  # Latin-1 name, invalid UTF-8
    with open(raw, "wb") as fh:
        fh.write(make_png(tmp_path / "tmp.png", seed=7).read_bytes())
    long_name = src / ("ä" * 120 + ".jpg")  # 244 bytes: a " (2)" suffix would pass the 255 limit
    make_jpeg(long_name, seed=3)
    before = snapshot(src)
    with new_case(tmp_path) as case:
        rep = case.add_paths([src])
        assert len(rep.added) == 3 and rep.issues == []
        latin = next(it for it in rep.added if it.original_name.startswith("caf"))
        assert latin.file_name == "caf_.jpg" and latin.original_name == "caf\\xe9.jpg"
        longest = next(it for it in rep.added if it.original_name.startswith("ä"))
        assert len(longest.file_name.encode()) <= 200 and longest.file_name.endswith(".jpg")
        assert case.verify().ok
        path = case.path
    with Case.open(path) as case:
        assert {it.file_name for it in case.evidence} >= {"caf_.jpg", "x.jpg"}
    assert snapshot(src) == before


def test_non_images_are_skipped_from_their_header(tmp_path, monkeypatch):
    import builtins

    src = tmp_path / "src"
    make_jpeg(src / "a.jpg")
    (src / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1_000_000)
    reads = []
    real_open = builtins.open

    def spy(file, mode="r", *a, **k):
        fh = real_open(file, mode, *a, **k)
        if str(file).endswith("video.mp4"):
            assert "w" not in mode and "a" not in mode and "+" not in mode
            orig_read = fh.read

            def read(n=-1):
                out = orig_read(n)
                reads.append(len(out))
                return out
            fh.read = read
        return fh

    monkeypatch.setattr(builtins, "open", spy)
    with new_case(tmp_path) as case:
        rep = case.add_paths([src])
    monkeypatch.undo()
    assert [it.file_name for it in rep.added] == ["a.jpg"]
    assert rep.skipped[0].path.endswith("video.mp4") and "not an image" in rep.skipped[0].reason
    assert sum(reads) < 100_000  # the header was enough; the 1 MB body was never read


def test_an_unexpected_failure_on_one_file_does_not_stop_the_batch(tmp_path, monkeypatch):
    from declip_desktop.case import ingest as ingest_mod

    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_jpeg(src / "b.jpg", seed=2)
    real = ingest_mod.extract_metadata
    calls = []

    def flaky(data, img=None):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("hostile header")
        return real(data, img)

    monkeypatch.setattr(ingest_mod, "extract_metadata", flaky)
    with new_case(tmp_path) as case:
        rep = case.add_paths([src])
        # metadata failure keeps the evidence (with a note); the other file is unaffected
        assert [it.file_name for it in rep.added] == ["a.jpg", "b.jpg"]
        assert "metadata extraction failed" in rep.added[0].metadata["notes"][0]
        monkeypatch.setattr(ingest_mod, "_write_copy", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
        make_jpeg(src / "c.jpg", seed=3)
        rep = case.add_paths([src / "c.jpg"])
        assert rep.added == [] and "unexpected error (RuntimeError: boom)" in rep.errors[0].reason
