"""`declip evaluate` and `declip train` command lines: items that cannot be scored are said before the
table and fail the run, the threshold is the one given, usage errors exit 2 and Ctrl-C 130."""
import contextlib
import io

import pytest
from declip_desktop.cli import main as declip
from tests.test_trainer_data_guards import TRAIN, _item, _split_set
from tests.test_trainer_e2e import usage_error
from trainer import metrics as M
from trainer.evaluate import format_summary


def test_wrong_size_and_missing_masks_are_skipped_before_the_table_and_fail_the_run(tmp_path, capsys):
    data = _split_set(tmp_path / "s")
    _item(data / "test", "test0", mask_size=(24, 16), seed=20)      # mask of another size
    (data / "test" / "images" / "test1.png").unlink()               # a mask without its image
    _item(data / "test", "test2", seed=22)
    (data / "test" / "masks" / "test2.png").unlink()                # an image without its mask
    _item(data / "test", "test3", seed=23)
    both = io.StringIO()  # stdout and stderr in the order a terminal shows them
    with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
        assert declip(["evaluate", "--baseline", "ela", "--data", str(data)]) == 1
    text = both.getvalue()
    assert "test0.png: mask is 24x16, image is 48x32; skipped" in text
    assert "test1.png: a mask without its image" in text and "test2.png: skipped, no mask" in text
    assert "1 manipulated, 0 authentic, 1 failed, 2 skipped" in text  # only test3 is scored
    assert text.rindex("warning:") < text.index("all manipulated")  # said before the table, not after it


def test_accuracy_is_at_the_threshold_given_and_the_threshold_is_a_probability(tmp_path, capsys):
    scores, labels = [0.3, 0.6, 0.2, 0.1], [1, 1, 0, 0]
    assert M.detection_metrics(scores, labels)["accuracy"] == 75.0          # 0.3 missed at 0.5
    assert M.detection_metrics(scores, labels, 0.25)["accuracy"] == 100.0
    data = _split_set(tmp_path / "s")
    for bad in ("2", "-0.1", "nan"):
        assert "--threshold" in usage_error(["evaluate", "--baseline", "ela", "--data", str(data),
                                             "--threshold", bad], capsys)


def test_usage_errors_exit_2(tmp_path, capsys):
    data = _split_set(tmp_path / "s")
    out = str(tmp_path / "m")
    train = ["train", "--data", str(data), "--out", out, *TRAIN]
    for extra, message in ((["--lr", "-1"], "--lr"), (["--decoder", "conv-7"], "conv-7"),
                           (["--mirror", "--augment"], "--mirror")):
        assert message in usage_error([*train, *extra], capsys)
    assert "no such file" in usage_error(["train", "--data", str(tmp_path / "nowhere"), "--out", out], capsys)
    ev = ["evaluate", "--data", str(data)]
    assert "'nosuch'" in usage_error([*ev, "--layer", "nosuch"], capsys)
    # --layer takes one layer: the message offered "or all", then refused 'all' as an unknown layer
    message = usage_error([*ev, "--layer", "all"], capsys)
    assert message.rstrip().endswith("unknown evidence layer 'all'; choose from ela, ghost, noise, dq, clones, resampling")
    assert "--layer-param" in usage_error([*ev, "--layer", "noise", "--layer-param", "block"], capsys)
    assert "one of --model, --layer" in usage_error([*ev, "--layer", "noise", "--model", "x"], capsys)
    assert "no such file" in usage_error(["evaluate", "--baseline", "ela", "--data", str(tmp_path / "no")], capsys)


def test_ctrl_c_in_training_exits_130_with_the_state_saved(tmp_path, monkeypatch, capsys):
    from trainer import train as T

    def interrupted(self, *args):  # what the loop raises when Ctrl-C asked it to stop between batches
        from engine.errors import Cancelled

        raise Cancelled("cancelled")

    monkeypatch.setattr(T.Trainer, "_loop", interrupted)
    data = _split_set(tmp_path / "s")
    out = tmp_path / "m"
    assert declip(["train", "--data", str(data), "--out", str(out), "--cache", str(tmp_path / "c"), *TRAIN]) == 130
    assert "continue with --resume" in capsys.readouterr().err and (out / "state" / "last.pt").is_file()


def test_help_and_footnotes_say_what_they_mean(tmp_path, capsys):
    with pytest.raises(SystemExit):
        declip(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "%%" not in text and "> 1 % of pixels" in " ".join(text.split())
    # a split of authentic images only: no F1-band footnote, the real reason
    res = {"model": {"model_id": "x"}, "data": "d", "layout": "generic", "split": "test",
           "metrics": {"manipulated": 0, "authentic": 2, "failed": 0, "iou": float("nan"), "pixel_ap": float("nan"),
                       "f1": float("nan"), "f1_best": float("nan"), "authentic_flagged": 0.0,
                       "authentic_flagged_count": 0, "threshold": 0.5}}
    text = format_summary(res)
    assert "no manipulated image was scored" in text and "TruFor band" not in text


def test_a_synth_manifest_gives_the_per_kind_table_and_the_csv_kind_column(tmp_path, capsys):
    import csv
    import json

    data = _split_set(tmp_path / "s")
    (data / "manifest.json").write_text(json.dumps({"format": "declip-synth/1", "items": [
        {"image": "test/images/test0.png", "kind": "splice"}, {"image": "test/images/test1.png", "kind": "retouch"}]}))
    out_csv = tmp_path / "r.csv"
    assert declip(["evaluate", "--baseline", "ela", "--data", str(data), "--csv", str(out_csv)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert any(line.startswith("splice ") for line in table) and any(line.startswith("retouch ") for line in table)
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["image"].rsplit("/", 1)[1]: r["kind"] for r in rows} == {"test0.png": "splice", "test1.png": "retouch"}


def test_resume_names_the_setting_that_differs(tmp_path, monkeypatch, capsys):
    from engine.errors import Cancelled
    from trainer import train as T

    data = _split_set(tmp_path / "s")
    base = ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), *TRAIN]
    with monkeypatch.context() as mp:
        mp.setattr(T.Trainer, "_loop", lambda self, *a: (_ for _ in ()).throw(Cancelled("cancelled")))
        assert declip(base) == 130
    capsys.readouterr()
    assert declip([*base, "--resume", "--lr", "0.002"]) == 1
    err = capsys.readouterr().err
    assert "(lr: 0.001 -> 0.002); resume needs the same flags" in err
