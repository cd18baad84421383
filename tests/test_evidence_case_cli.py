"""`declip case analyze --layers`: evidence layers stored in the case beside the model's map."""
from __future__ import annotations

import pytest

from declip_desktop.case import Case
from declip_desktop.cli import main
from engine import testing
from tests import evidence_cases as ec
from tests.case_support import new_case


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return testing.make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


def test_case_analyze_layers_stored_verified_and_up_to_date(tmp_path, tiny_model, capsys):
    jpg, png = tmp_path / "a.jpg", tmp_path / "b.png"
    jpg.write_bytes(ec.dq_case()[0])
    png.write_bytes(ec.encode(ec.scene("chelsea", (96, 128)), "PNG"))
    case = new_case(tmp_path)
    case.add_paths([jpg, png])
    d = str(case.path)
    case.close()
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--layers", "ela,dq"]) == 0
    out = capsys.readouterr()
    assert "evidence layers: 3 stored, 1 not applicable, 0 failed" in out.out
    assert "needs a JPEG" in out.err
    with Case.open(d, readonly=True) as c:
        ids = {(a.evidence_id, a.model_id) for a in c.analyses()}
        assert {("E0001", "evidence-ela"), ("E0001", "evidence-dq"), ("E0002", "evidence-ela")} <= ids
        assert ("E0002", "evidence-dq") not in ids
        assert any(e["action"] == "evidence_layer_not_applicable" for e in c.audit_entries())
    assert main(["case", "verify", d]) == 0
    capsys.readouterr()
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--layers", "ela,dq"]) == 0
    out = capsys.readouterr()
    assert "evidence layers: 0 stored, 1 not applicable, 0 failed, 3 already up to date" in out.out
    # the refusal is reported as recorded, not tried and logged again: an idle re-run adds nothing to the log
    assert "E0002 dq: not applicable (recorded " in out.err and "needs a JPEG" in out.err

    def refusals():
        with Case.open(d, readonly=True) as c:
            return [e["details"] for e in c.audit_entries() if e["action"] == "evidence_layer_not_applicable"]

    first = refusals()
    assert len(first) == 1 and first[0]["method_version"] and first[0]["evidence_sha256"]
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--layers", "ela,dq", "--force"]) == 0
    capsys.readouterr()
    assert len(refusals()) == 2           # --force tries again, and logs what it found


def test_case_analyze_unknown_layer_is_a_usage_error(tmp_path):
    case = new_case(tmp_path)
    d = str(case.path)
    case.close()
    with pytest.raises(SystemExit) as exc:
        main(["case", "analyze", d, "--layers", "ela,nope"])
    assert exc.value.code == 2


def test_case_analyze_evidence_names_layers_as_in_declip_analyze_and_ids_still_select_items(tmp_path, tiny_model,
                                                                                            capsys):
    jpgs = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    jpgs[0].write_bytes(ec.dq_case()[0])
    jpgs[1].write_bytes(ec.encode(ec.scene("chelsea", (96, 128)), "JPEG"))
    case = new_case(tmp_path)
    case.add_paths(jpgs)
    d = str(case.path)
    case.close()
    # layer names after --evidence are layers; an item id beside them still chooses the items
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--evidence", "ela,dq", "E0002"]) == 0
    assert "evidence layers: 2 stored, 0 not applicable, 0 failed" in capsys.readouterr().out
    with Case.open(d, readonly=True) as c:
        ids = {(a.evidence_id, a.model_id) for a in c.analyses()}
    assert {("E0002", "evidence-ela"), ("E0002", "evidence-dq")} <= ids
    assert not any(e == "E0001" for e, _ in ids)
    # --items is the unambiguous item selector; a name that is neither a layer nor an item is one clear error
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--items", "E0001", "--layers", "ela"]) == 0
    capsys.readouterr()
    with Case.open(d, readonly=True) as c:
        assert ("E0001", "evidence-ela") in {(a.evidence_id, a.model_id) for a in c.analyses()}
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--evidence", "elax"]) != 0
    assert "elax" in capsys.readouterr().err


def test_unreadable_item_fails_all_layers_in_one_line_and_refusals_name_the_file_once(tmp_path, tiny_model, capsys):
    good, png = tmp_path / "a.jpg", tmp_path / "b.png"
    good.write_bytes(ec.dq_case()[0])
    png.write_bytes(ec.encode(ec.scene("chelsea", (96, 128)), "PNG"))
    whole = ec.encode(ec.scene("chelsea", (96, 128)), "JPEG")
    bad = tmp_path / "c.jpg"
    bad.write_bytes(whole[: len(whole) // 2])          # truncated: the item is ingested, its pixels cannot be read
    case = new_case(tmp_path)
    case.add_paths([good, png, bad])
    d = str(case.path)
    case.close()
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--layers", "ela,dq,noise"]) == 1
    out = capsys.readouterr()
    assert "evidence layers: 5 stored, 1 not applicable, 3 failed" in out.out
    bad_lines = [ln for ln in out.err.splitlines() if "E0003" in ln and "FAILED" in ln]
    assert len(bad_lines) == 2            # the model's analysis, then all three layers in one line
    assert "(ela, noise, dq): FAILED" in bad_lines[1] and "truncated" in bad_lines[1]
    refusal = next(ln for ln in out.err.splitlines() if "not applicable" in ln)
    assert refusal.startswith("E0002 dq:") and "b.png" not in refusal and "needs a JPEG" in refusal
    with Case.open(d, readonly=True) as c:     # each layer's failure is still in the audit log
        failed = [e for e in c.audit_entries() if e["action"] == "analysis_failed"
                  and e["details"].get("evidence_id") == "E0003" and e["details"].get("mode") == "evidence"]
        assert sorted(e["details"]["model_id"] for e in failed) == ["evidence-dq", "evidence-ela", "evidence-noise"]


def test_pinning_a_layer_with_no_stored_analysis_says_so(tmp_path, tiny_model, capsys):
    png = tmp_path / "b.png"
    png.write_bytes(ec.encode(ec.scene("chelsea", (96, 128)), "PNG"))
    case = new_case(tmp_path)
    case.add_paths([png])
    d = str(case.path)
    case.close()
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--layers", "ela,dq"]) == 0   # dq refuses a PNG
    capsys.readouterr()
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--pin-layers", "ela,dq"]) == 0
    err = capsys.readouterr().err
    assert "no stored analysis of dq" in err and "ela" not in err.split("no stored analysis of")[1].split("(")[0]
    with Case.open(d, readonly=True) as c:
        assert c.finding("E0001").layers == ["ela", "dq"]      # the examiner's pin is kept
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--pin-layers", "ela"]) == 0
    assert "no stored analysis" not in capsys.readouterr().err


def test_case_analyze_evidence_param_stores_the_dense_clone_method_and_redoes_it_only_when_asked(
        tmp_path, tiny_model, capsys):
    img = tmp_path / "copy.jpg"
    img.write_bytes(ec.scaled_copy_case()[0])
    case = new_case(tmp_path)
    case.add_paths([img])
    d = str(case.path)
    case.close()
    base = ["case", "analyze", d, "--model", str(tiny_model), "--layers", "clones"]
    assert main(base) == 0                                   # the default: keypoints
    capsys.readouterr()
    # asking for the default by name is the same request as asking for nothing
    assert main(base + ["--evidence-param", "clones.method=keypoints"]) == 0
    assert "evidence layers: 0 stored" in capsys.readouterr().out
    assert main(base + ["--evidence-param", "clones.method=dense"]) == 0
    assert "evidence layers: 1 stored" in capsys.readouterr().out   # other parameters: redone

    def stored():
        with Case.open(d, readonly=True) as c:
            return [a.metadata for a in c.analyses() if a.model_id == "evidence-clones"]

    (latest,) = stored()          # replaced: one analysis per layer and item; the audit log has both stores
    assert latest["parameters"]["method"] == "dense" and latest["requested_parameters"] == {"method": "dense"}
    with Case.open(d, readonly=True) as c:
        logged = [e["details"] for e in c.audit_entries()
                  if e["action"] == "analysis_stored" and e["details"]["model_id"] == "evidence-clones"]
    assert [x.get("requested_parameters") for x in logged] == [None, {"method": "dense"}]
    assert [p["method"] for p in latest["details"]["pairs"]] == ["dense"]
    # the same parameters again, or none (the viewer's way: whatever is stored): up to date
    assert main(base + ["--evidence-param", "clones.method=dense"]) == 0
    assert "1 already up to date" in capsys.readouterr().out
    assert main(base) == 0
    assert "1 already up to date" in capsys.readouterr().out
    assert main(["case", "verify", d]) == 0
    # a parameter for a layer not asked for: refused before anything runs
    n = len(stored())
    with pytest.raises(SystemExit) as exc:  # a usage error, as in `declip analyze`
        main(base + ["--evidence-param", "ela.quality=80"])
    assert exc.value.code == 2 and "not among the layers asked for" in capsys.readouterr().err
    assert len(stored()) == n


def test_case_analyze_parameter_errors_are_usage_errors_and_a_mistyped_layer_says_so(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(ec.encode(ec.scene(), "PNG"))
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "a.png"])
        d = str(case.path)
    with pytest.raises(SystemExit) as exc:  # as in `declip analyze`: exit 2, before the case is opened
        main(["case", "analyze", d, "--evidence", "ela", "--evidence-param", "ela.quality=abc"])
    assert exc.value.code == 2 and "quality must be a whole number" in capsys.readouterr().err
    assert main(["case", "analyze", d, "--evidence", "elx"]) == 1
    assert "no evidence item matches 'elx'" in (err := capsys.readouterr().err) and "nor is it an evidence layer" in err


def test_list_options_given_twice_add_up(tmp_path, tiny_model, capsys):
    """argparse keeps only the last use of an option: `--pin-layers dq --pin-layers ela` (or the abbreviated
    `--pin dq --pin ela` an examiner may type) pinned ela alone, and `--layers ela --layers dq` stored dq alone,
    with no word said. A list option given again now adds to its list."""
    from declip_desktop.cli import build_parser

    img = tmp_path / "a.jpg"
    img.write_bytes(ec.encode(ec.scene("chelsea", (96, 128)), "JPEG", 90))
    case = new_case(tmp_path)
    case.add_paths([img])
    d = str(case.path)
    case.close()
    assert main(["case", "analyze", d, "--model", str(tiny_model), "--layers", "ela", "--layers", "dq,ela"]) == 0
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--pin", "dq", "--pin", "ela"]) == 0
    capsys.readouterr()
    with Case.open(d, readonly=True) as c:
        assert c.finding("E0001").layers == ["ela", "dq"]
        stored = {a.model_id for a in c.analyses("E0001") if a.mode == "evidence"}
    assert stored == {"evidence-ela", "evidence-dq"}
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--pin-layers", ""]) == 0
    with Case.open(d, readonly=True) as c:
        assert c.finding("E0001").layers == []                  # '' still unpins all
    args = build_parser().parse_args(["analyze", "x.jpg", "--out", "o", "--evidence", "ela", "--evidence", "all",
                                      "--outputs", "map", "--outputs", "overlay,map"])
    assert args.evidence == ["ela", "ghost", "noise", "dq", "clones", "resampling"]
    assert list(args.outputs) == ["map", "overlay"]
    args = build_parser().parse_args(["case", "report", d, "--out", "r.pdf", "--items", "E0001", "--items", "E0002"])
    assert args.items == ["E0001", "E0002"]


def test_status_lists_maps_and_layers_on_their_own_lines(tmp_path, tiny_model, capsys):
    """Old code: every analysis of an item on the item's one line, as model/mode pairs."""
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(ec.dq_case()[0])
    case = new_case(tmp_path)
    case.add_paths([jpg])
    d = str(case.path)
    case.close()
    make = ["case", "analyze", d, "--model", str(tiny_model)]
    assert main(make + ["--layers", "ela,dq"]) == 0
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--pin-layers", "dq"]) == 0
    capsys.readouterr()
    assert main(["case", "status", d]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("E0001  a.jpg"))
    assert lines[i].endswith("finding: suspicious")
    assert lines[i + 1].startswith("       maps: ") and "(paper) score " in lines[i + 1]
    assert lines[i + 2].startswith("       layers: ela ") and ", dq " in lines[i + 2]
    assert lines[i + 2].endswith("(pinned: dq)") and "evidence-" not in lines[i + 2]
    assert any(line.startswith("layer scores: the share of the image above 0.5") for line in lines[:i])
