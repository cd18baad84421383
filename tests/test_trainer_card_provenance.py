"""A trained model's provenance survives `declip models import`: the card's training block, its
validation list and keys this version does not model, all written atomically."""
import json

import pytest

from declip_desktop.cli import main as declip
from engine.cards import ModelCard
from tests.test_trainer_e2e import TRAIN_ARGS, make_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_dataset(tmp_path_factory)
    out = tmp_path_factory.mktemp("m") / "tiny-prov"
    assert declip(["train", "--data", str(data), "--out", str(out), *TRAIN_ARGS]) == 0
    return out


def test_train_import_show_keeps_the_training_record(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "home"))
    written = json.loads((trained / "card.json").read_text())
    rec = written["training"]
    assert rec["data_manifest_sha256"] and rec["recipe"]["seed"] == 3 and rec["versions"]
    assert not list(trained.glob(".tmp-*")), "no temp file left by the atomic write"
    # a key this version does not model and a validation entry must survive the import too
    written["lab_reference"] = {"ticket": "LAB-7"}
    written["validation"] = [{"set": {"id": "bench", "independent": True}, "date": "2026-12-06",
                              "figures": {"iou": 12.5}}]
    (trained / "card.json").write_text(json.dumps(written))
    assert declip(["models", "import", str(trained)]) == 0
    capsys.readouterr()
    assert declip(["models", "show", "tiny-prov", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["training"] == rec
    assert shown["lab_reference"] == {"ticket": "LAB-7"}
    assert shown["validation"][0]["figures"]["iou"] == 12.5
    stored = json.loads((tmp_path / "home" / "models" / "tiny-prov" / "card.json").read_text())
    assert stored["training"] == rec and stored["lab_reference"] == {"ticket": "LAB-7"}
    assert declip(["models", "show", "tiny-prov"]) == 0
    text = capsys.readouterr().out
    assert "training" in text and rec["data_manifest_sha256"][:12] in text


def test_card_round_trip_keeps_unknown_keys_and_refuses_bad_provenance(tmp_path):
    from engine.errors import ModelStoreError

    base = {"id": "m", "name": "M", "backbone": "lite0", "decoder": {"type": "conv", "depth": 4},
            "training": {"seed": 1}, "validation": [], "photos_used": [1, 2], "extra": "kept too"}
    card = ModelCard.from_dict(dict(base))
    again = card.to_dict()
    assert again["training"] == {"seed": 1} and again["photos_used"] == [1, 2] and again["extra"] == "kept too"
    card.save(tmp_path)
    assert ModelCard.load(tmp_path).to_dict() == again
    assert "training" not in ModelCard.from_dict({k: v for k, v in base.items() if k != "training"}).to_dict()
    for bad in ({"training": [1]}, {"validation": {"iou": 1}}, {"validation": [3]}):
        with pytest.raises(ModelStoreError, match=next(iter(bad))):
            ModelCard.from_dict(dict(base, **bad))
