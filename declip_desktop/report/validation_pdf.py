"""One-page PDF of a `declip validate` record (reportlab, no Qt): what a lab files after an
install or update to show this installation gives the validated results."""
from __future__ import annotations

from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle


def _esc(text) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_validation_pdf(record: dict, path: Path) -> Path:
    """Write the record as a one-page PDF (atomically); returns the path."""
    from engine.atomic import write_atomic
    from engine.cpu import cpu_text

    st = getSampleStyleSheet()
    small = st["BodyText"].clone("small", fontSize=7.5, leading=9)
    ok = record.get("result") == "PASS"
    m, d, mach, ver = record.get("model", {}), record.get("device", {}), record.get("machine", {}), record.get("versions", {})
    # The machine's CPU whatever the model's device: validate also checks the evidence layers, which always run
    # on the CPU, so cpu_text_if_cpu's rule (a GPU map's bits do not depend on the CPU) does not apply here.
    cpu = cpu_text(mach.get("cpu"))
    story = [Paragraph("DeCLIP Desktop — installation validation", st["Title"]),
             Paragraph(f"<b>Result: <font color='{'#1a7f37' if ok else '#b42318'}'>{_esc(record.get('result'))}"
                       f"</font></b> · {_esc(record.get('created_utc'))} (UTC)", st["Heading2"])]
    info = [("Model", f"{m.get('name')} (id {m.get('id')})"),
            ("Device", f"{d.get('name') or '?'} ({d.get('device') or '?'}), precision {d.get('precision') or '?'}"
                       + (f" ({d['dtype']})" if d.get("dtype") else "")),
            ("Machine", f"{mach.get('host')} · {mach.get('platform')} · {mach.get('cpus')} CPUs"
                        # the vector instructions choose torch's and OpenCV's kernels (engine/cpu.py)
                        + (f" · {cpu}" if cpu else "")),
            ("Versions", ", ".join(f"{k} {v}" for k, v in ver.items())),
            ("Golden set", f"sha256 {record.get('golden_set_sha256', '?')}")]
    for f in m.get("files", []):
        info.append((f"File {f.get('name')}", f"{'OK' if f.get('ok') else 'DIFFERS'} · card {f.get('expected')}"
                     + ("" if f.get("ok") else f" · found {f.get('actual')}")))
    t = Table([[Paragraph(f"<b>{_esc(k)}</b>", small), Paragraph(_esc(v), small)] for k, v in info],
              colWidths=[32 * mm, 140 * mm])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey)]))
    story += [t, Spacer(1, 4 * mm)]
    rows = [["Item", "Result", "Largest difference", "Tolerance", "Note"]]
    for i in record.get("items", []):
        rows.append([Paragraph(_esc(i["name"]), small), "PASS" if i["ok"] else "FAIL",
                     "—" if i.get("max_diff") is None else f"{i['max_diff']:.2e}",
                     "—" if i.get("tolerance") is None else f"{i['tolerance']:g}", Paragraph(_esc(i.get("problem") or ""), small)])
    it = Table(rows, colWidths=[45 * mm, 15 * mm, 30 * mm, 20 * mm, 62 * mm], repeatRows=1)
    style = [("FONTSIZE", (0, 0), (-1, -1), 7.5), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f4"))]
    style += [("TEXTCOLOR", (1, r), (1, r), colors.HexColor("#b42318")) for r, i in enumerate(record.get("items", []), 1)
              if not i["ok"]]
    it.setStyle(TableStyle(style))
    story.append(it)
    for p in record.get("problems", []):
        story += [Spacer(1, 2 * mm), Paragraph(f"<font color='#b42318'>{_esc(p)}</font>", small)]
    for n in record.get("notes", []):
        story += [Spacer(1, 2 * mm), Paragraph(f"<b>Note.</b> {_esc(n)}", small)]
    story += [Spacer(1, 4 * mm), Paragraph(
        "Each golden item is analysed and its map, area-averaged to 64 x 64, compared with the map recorded "
        "for these exact weights when the golden set was made (resources/validation/golden.json); an item passes "
        "when no cell and not the score differ by more than the tolerance for this device and precision. The "
        "model's files are re-hashed against its card first. Each evidence layer ('layer NAME') is run with its "
        "default parameters on every golden item and compared the same way, with its own tolerance (wider for "
        "clones, whose SIFT keypoints depend on the CPU's vector instructions; its number of copy pairs must match "
        "exactly), and must refuse the items it refused when recorded. The JSON record beside this PDF holds every "
        "figure.",
        small)]

    def build(tmp: Path) -> None:
        SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                          bottomMargin=14 * mm, title="DeCLIP Desktop installation validation").build(story)

    write_atomic(Path(path), build, suffix=".pdf")
    return Path(path)
