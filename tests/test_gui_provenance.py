"""Content Credentials in the GUI: the metadata dock's section and the evidence-list badge."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("c2pa")

from PySide6.QtCore import Qt  # noqa: E402

from tests.gui_support import close_window, drop_paths, isolated_qsettings, make_window, wait_ingest  # noqa: E402,F401


def _section(view, title):
    for i in range(view.topLevelItemCount()):
        top = view.topLevelItem(i)
        if top.text(0) == title:
            return i, {top.child(j).text(0): top.child(j).text(1) for j in range(top.childCount())}
    return None, {}


def test_dock_section_and_badges_after_a_drop(qtbot, tmp_path, c2pa_samples, monkeypatch):
    # trust anchors from the settings file, as an examiner would install them
    prefs = tmp_path / "cfg"
    prefs.mkdir()
    monkeypatch.setenv("DECLIP_CONFIG_HOME", str(prefs))
    (prefs / "preferences.json").write_text(json.dumps({"trust_anchors": str(c2pa_samples["anchor"])}))
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, [c2pa_samples["altered_jpg"], c2pa_samples["plain_jpg"]])
    wait_ingest(qtbot, w)
    rows = {r.name: r for r in w.evidenceModel.rows()}
    assert rows["altered.jpg"].provenance == "signed but altered"
    assert rows["plain.jpg"].provenance == "none"
    idx = w.evidenceModel.index(w.evidenceModel.row_of(rows["altered.jpg"].id))
    assert "Content Credentials: signed but ALTERED" in w.evidenceModel.data(idx, Qt.ItemDataRole.ToolTipRole)
    w.evidenceList.setCurrentIndex(idx)
    qtbot.waitUntil(lambda: _section(w.metadataView, "Content Credentials")[0] is not None, timeout=20000)
    pos, sec = _section(w.metadataView, "Content Credentials")
    assert pos == 1  # right after Integrity
    assert sec["verdict"] == "signed but ALTERED"
    assert "CHANGED AFTER IT WAS SIGNED" in sec["meaning"]
    assert sec["hash binding"] == "mismatch"
    assert sec["signer trust"].startswith("signer trusted")
    assert w.metadataView.topLevelItem(pos).isExpanded()
    # on demand: re-read from the evidence copy, shown under the ingest record and logged
    w.findChild(type(w.metadataView.actions()[0]), "rereadProvenance").trigger()
    again = w.metadataView.topLevelItem(pos + 1)
    assert again.text(0).startswith("Content Credentials (re-read ")
    assert again.child(0).text(1) == "signed but ALTERED"
    assert w.case.audit_entries()[-1]["action"] == "provenance_read"
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(w.evidenceModel.row_of(rows["plain.jpg"].id)))
    qtbot.waitUntil(lambda: _section(w.metadataView, "Content Credentials")[1].get("verdict") == "none",
                    timeout=20000)
    assert "proves nothing" in _section(w.metadataView, "Content Credentials")[1]["note"]
    close_window(w)


def test_trust_anchors_chosen_in_the_gui_are_kept_and_used(qtbot, tmp_path, c2pa_samples):
    from declip_desktop.provenance_view import set_trust_anchors
    from engine.provenance import configured_anchor_path

    w = make_window(qtbot, tmp_path / "case.declip")
    assert w.findChild(type(w.actionAbout), "actionTrustAnchors") is not None
    assert not set_trust_anchors(w, str(tmp_path / "missing.pem"))  # refused, one line, nothing kept
    assert configured_anchor_path() is None
    assert set_trust_anchors(w, str(c2pa_samples["anchor"]))
    assert configured_anchor_path() == str(c2pa_samples["anchor"].resolve())
    drop_paths(w, [c2pa_samples["signed_jpg"]])
    wait_ingest(qtbot, w)
    assert w.case.evidence[0].metadata["provenance"]["validation"]["trust"] == "trusted"
    close_window(w)
