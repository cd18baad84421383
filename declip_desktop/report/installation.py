"""Which `declip validate` record the report may cite for each model used, and how it is said
(cover line, appendix D). No Qt.

Why: the newest record on the machine may be of another model, other weights or another device;
citing its PASS beside these findings would claim a validation that never happened. Only a
record of the same model id with the same weights SHA-256 is cited; one made on the device and
precision the items were analysed with is preferred, and the text says whether it covers them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.golden import latest_record

from .blocks import esc, item_ranges
from .scope import model_id, model_weights

MAX_FAILED = 8   # failing rows named in the appendix (the record has them all)


@dataclass
class Installation:
    model_id: str
    model_name: str
    weights: frozenset[str]
    items: list[int] = field(default_factory=list)            # report item numbers analysed with it
    used: list[tuple[str, str]] = field(default_factory=list)  # (device, precision) the items used
    record: dict | None = None
    others_exist: bool = False                                 # records of other models/weights/devices

    @property
    def covered(self) -> list[tuple[str, str]]:
        dev = (self.record or {}).get("device") or {}
        return [u for u in self.used if u == (dev.get("device"), dev.get("precision"))]

    @property
    def passed(self) -> bool:
        return bool(self.record) and self.record.get("result") == "PASS" and len(self.covered) == len(self.used)

    def failed_rows(self) -> list[str]:
        """The record's failing checks in words ("layer clones: references are of version 1.7 ...")."""
        rec = self.record or {}
        rows = [f"file {f.get('name', '?')}: differs from the card" for f in (rec.get("model") or {}).get("files") or []
                if isinstance(f, dict) and not f.get("ok")]
        rows += [f"{i.get('name', '?')}: {i.get('problem') or 'outside tolerance'}" for i in rec.get("items") or []
                 if isinstance(i, dict) and not i.get("ok")]
        return rows + [str(p) for p in rec.get("problems") or []]

    def _device(self) -> str:
        dev = (self.record or {}).get("device") or {}
        name, kind = dev.get("name") or "", dev.get("device") or "?"
        return f"{name} ({kind})" if name and kind.lower() not in name.lower() else (name or kind)

    def cover_text(self) -> str:
        if self.record is None:
            return f"NO RECORD for model {self.model_id} with these weights"
        dev = (self.record.get("device") or {})
        text = (f"{self.record.get('result')} for model {self.model_id} on {self._device()} · "
                f"{dev.get('precision') or '?'}, {str(self.record.get('created_utc', '?'))[:10]}")
        failed = [r.split(":")[0] for r in self.failed_rows()]
        if failed:
            text += f" (failed: {', '.join(failed[:3])}{', …' if len(failed) > 3 else ''})"
        if len(self.covered) < len(self.used):
            text += "; not on the device/precision the items used"
        return text

    def appendix_xml(self) -> str:
        mono = "<font name='DeclipMono' size='7'>{}</font>"
        head = (f"Model <b>{esc(self.model_id)}</b>, weights SHA-256 "
                + (", ".join(mono.format(esc(w)) for w in sorted(self.weights)) or "not recorded")
                + f", used for item(s) {esc(item_ranges(self.items))} on "
                + esc(", ".join(f"{d} · {p}" for d, p in self.used)) + ": ")
        rec = self.record
        if rec is None:
            return head + ("<b>no validation record of this model with these weights on this machine</b>, so this "
                           "installation has not been shown to reproduce its validated maps. Run <b>declip validate "
                           f"--model {esc(self.model_id)}</b> (Help → Validate installation) before relying on them."
                           + (" Records of other models, weights or devices exist and are not cited."
                              if self.others_exist else ""))
        dev = rec.get("device") or {}
        rows = rec.get("items") or []
        layers = [i for i in rows if str(i.get("name", "")).startswith("layer ")]
        golden = [i for i in rows if i not in layers]

        def passed(group: list) -> str:
            return f"{sum(1 for i in group if i.get('ok'))} of {len(group)}"

        text = head + (f"latest validation <b>{esc(rec.get('result'))}</b> on {esc(rec.get('created_utc'))} (UTC) on "
                       f"{esc(self._device())}, precision {esc(dev.get('precision') or '?')}, app "
                       f"{esc((rec.get('versions') or {}).get('app'))}; {passed(golden)} golden items"
                       + (f" and {passed(layers)} evidence layers" if layers else "") + " within tolerance.")
        failed = self.failed_rows()
        if failed:
            text += " <b>Failed:</b> " + "; ".join(esc(r) for r in failed[:MAX_FAILED]) + (
                f"; and {len(failed) - MAX_FAILED} more (see the record)" if len(failed) > MAX_FAILED else "") + "."
        missing = [u for u in self.used if u not in self.covered]
        if missing:
            text += (" <b>It does not cover</b> " + esc(", ".join(f"{d} · {p}" for d, p in missing))
                     + ", on which item(s) were analysed: no record of this model on that device and precision.")
        else:
            text += " It covers the device and precision the items were analysed with."
        return text + f" Record: {esc(Path(str(rec.get('path', ''))).name)} in this installation's validation folder."


def installations(findings: list, home: Path | None = None) -> list[Installation]:
    """One entry per model (id and weights) used by an analysed item, with the record to cite."""
    groups: dict[tuple, Installation] = {}
    for f in findings:
        if not f.analysed:
            continue
        md = f.metadata or {}
        key = (model_id(f), model_weights(f))
        inst = groups.setdefault(key, Installation(key[0], str(md.get("model_name") or key[0]), key[1]))
        inst.items.append(f.index)
        use = (str(md.get("device") or "?"), str(md.get("precision") or "?"))
        if use not in inst.used:
            inst.used.append(use)
    for inst in groups.values():
        if inst.weights:
            found = [r for d, p in inst.used
                     if (r := latest_record(home, inst.model_id, inst.weights, device=d, precision=p))]
            inst.record = (max(found, key=lambda r: str(r.get("created_utc", ""))) if found
                           else latest_record(home, inst.model_id, inst.weights))
        inst.others_exist = inst.record is None and latest_record(home) is not None
    return list(groups.values())


def cover_line(installs: list[Installation]) -> str:
    if not installs:
        return "not applicable (no item analysed)"
    return "; ".join(i.cover_text() for i in installs) + " — see appendix D"


