from reportlab.lib.enums import TA_RIGHT

from declip_desktop.report import fonts


def test_markup_escapes_and_switches_to_cjk_font_only_where_needed():
    s = fonts.markup("A<b>&Иван 山田 x")
    assert "&lt;b&gt;&amp;Иван " in s
    assert f'<font name="{fonts.CJK}">山田</font>' in s
    assert s.endswith(" x")


def test_control_characters_are_neutralised():
    assert fonts.clean("a\tb\nc\x00d") == "a b c\ufffdd"


def test_embedded_fonts_cover_the_scripts_we_promise():
    for ch in "ÄßИванΕλλάδαمحمدשלום":
        assert fonts.covers(fonts.SANS, ch), ch
    for ch in "山田太郎やまだカタカナ김철수":
        assert fonts.covers(fonts.CJK, ch) and fonts.needs_fallback(ch), ch


def test_right_to_left_runs_are_put_in_visual_order():
    from declip_desktop.report.bidi import visual

    assert visual("abc") == "abc"
    assert visual("محمد عبد الله") == "هللا دبع دمحم"
    assert visual("Examiner: שלום (ID 42)") == "Examiner: םולש (ID 42)"
    assert visual("عدد 2024 صور") == "رول 2024 ددع".replace("رول", "روص")   # digits keep their order


def test_arabic_name_is_extractable_in_logical_order(tmp_path):
    import pypdf
    from reportlab.platypus import SimpleDocTemplate

    from declip_desktop.report.blocks import P

    out = tmp_path / "a.pdf"
    SimpleDocTemplate(str(out)).build([P("Examiner محمد عبد الله")])
    assert "محمد عبد الله" in pypdf.PdfReader(str(out)).pages[0].extract_text()


def test_a_right_to_left_paragraph_is_reversed_as_a_whole_keeping_latin_runs_and_digits():
    from declip_desktop.report.bidi import is_rtl_paragraph, visual

    assert is_rtl_paragraph("שלום world") and not is_rtl_paragraph("world שלום") and not is_rtl_paragraph("42 .")
    assert visual("שלום IC-2026-114 עולם") == "םלוע IC-2026-114 םולש"   # a case number stays readable
    assert visual("נמצאו 3 אזורים") == "םירוזא 3 ואצמנ"
    assert visual("(תיק IC-7)") == "(IC-7 קית)"                    # brackets mirrored, run kept
    assert visual("שלום, world!") == "!world ,םולש"                 # the final mark ends the RTL line


HEBREW_NOTE = ("ראשית הצבע של הקיר שונה באזור המסומן ויש לבדוק את המקור של התמונה לפני כל מסקנה "
               "סופית בתיק הזה ונמצאו עוד אזורים חשודים בצד שמאל למעלה ועוד אחד ליד החלון אחרית")


def _lines_with_x(pdf_path):
    import pypdf

    runs = []
    pypdf.PdfReader(str(pdf_path)).pages[0].extract_text(
        visitor_text=lambda text, cm, tm, font, size: runs.append((round(tm[5], 1), tm[4], text)))
    lines: dict[float, list] = {}
    for y, x, text in runs:
        if text.strip():
            lines.setdefault(y, []).append((x, text))
    return [sorted(lines[y]) for y in sorted(lines, reverse=True)]   # top line first


def test_a_wrapped_hebrew_note_reads_top_line_first_and_is_right_aligned(tmp_path):
    """Reordered before wrapping, the note's last words would stand on its first line."""
    import pypdf
    from reportlab.platypus import SimpleDocTemplate, Table

    from declip_desktop.report.blocks import P

    out = tmp_path / "he.pdf"
    SimpleDocTemplate(str(out)).build([Table([[P(HEBREW_NOTE, "cell")]], colWidths=[180])])
    text_lines = [ln for ln in pypdf.PdfReader(str(out)).pages[0].extract_text().splitlines() if ln.strip()]
    assert len(text_lines) >= 3
    assert "ראשית" in text_lines[0] and "אחרית" in text_lines[-1]
    # every word is there once, in logical order across the lines
    words = " ".join(text_lines).split()
    assert sorted(words) == sorted(HEBREW_NOTE.split())
    # right-aligned: every line ends at the same x, and they start at different ones
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from declip_desktop.report.styles import sheet

    size = sheet()["cell"].fontSize
    drawn = _lines_with_x(out)
    starts = [ln[0][0] for ln in drawn]
    ends = [ln[-1][0] + stringWidth(ln[-1][1].strip(), fonts.SANS, size) for ln in drawn]
    assert max(ends) - min(ends) < 1.5 and max(starts) - min(starts) > 3


def test_a_hebrew_word_too_long_for_its_cell_is_cut_and_nothing_is_lost(tmp_path):
    from reportlab.platypus import SimpleDocTemplate, Table

    from declip_desktop.report.blocks import P
    from declip_desktop.report.rtl_paragraph import wrap_logical
    from declip_desktop.report import fonts

    word = "אבגדהוזחטיכלמנסעפצקרשת" * 4
    lines = wrap_logical(f"קצר {word} סוף", 60, fonts.SANS, 9)
    assert "".join(lines).replace(" ", "") == f"קצר{word}סוף" and len(lines) > 3
    SimpleDocTemplate(str(tmp_path / "long.pdf")).build([Table([[P(word, "cell")]], colWidths=[60])])


def test_a_wrapped_line_keeps_its_paragraphs_direction():
    """An English note naming a Hebrew witness: a wrapped line that starts with the name is still a
    left-to-right line (only the name's letters are reversed), not a right-to-left line of its own,
    which would swap the line's words and push its full stop to the front."""
    from declip_desktop.report.bidi import visual
    from declip_desktop.report.rtl_paragraph import RtlParagraph, wrap_logical
    from declip_desktop.report.styles import sheet

    assert visual("שלום is the witness.", rtl=False) == "םולש is the witness."
    assert visual("שלום is the witness.") == ".is the witness םולש"   # a paragraph of its own: RTL
    note = "The photo was given to us by " + "שלום כהן" + " who is the witness and the owner of the car."
    style = sheet()["cell"]
    width = 120
    para = RtlParagraph(note, style)
    assert para.style.alignment == style.alignment   # an LTR note stays left-aligned
    drawn = para._layout(width + style.leftIndent + style.rightIndent + 1).text.split("<br/>")
    logical = wrap_logical(note, width, style.fontName, style.fontSize)
    assert any(ln.startswith("ש") for ln in logical)   # the case this test is about does arise
    assert drawn == [fonts.markup(ln, rtl=False) for ln in logical]
    assert all(not ln.startswith(".") for ln in drawn)


def test_a_character_no_embedded_font_has_is_written_as_its_code_point(tmp_path):
    """An emoji in a note would be drawn as an empty box: the report writes its code point instead, so
    what the examiner wrote can still be read; characters the fonts have are untouched."""
    import pypdf
    from reportlab.platypus import SimpleDocTemplate

    from declip_desktop.report.blocks import P

    assert fonts.clean("checked 🔍 by 王小明, שלום ✓") == "checked [U+1F50D] by 王小明, שלום ✓"
    assert fonts.clean("plain text") == "plain text"
    out = tmp_path / "emoji.pdf"
    SimpleDocTemplate(str(out)).build([P("Seen 🔍 twice", "cell")])
    assert "Seen [U+1F50D] twice" in pypdf.PdfReader(str(out)).pages[0].extract_text()


def test_every_piece_of_a_long_note_keeps_the_notes_direction():
    """A note longer than one box row is cut into rows; a row that starts with a Hebrew word belongs
    to an English note and stays left-aligned and left-to-right."""
    from declip_desktop.report.blocks import text_rows

    words = "The owner checked the dent on the door and the bumper of the car, then ".split()
    prefix = ""
    while len(prefix) < 190:   # the cut falls at the last space before 200: just before the name
        prefix += words[len(prefix) % len(words)] + " "
    note = prefix + "שלוםשלוםשלוםכהן" + " signed the form. " + "He said it was dented before. " * 5
    rows = text_rows(note, chunk=200)
    starts_hebrew = [r for r in rows if getattr(r, "hard_lines", [""])[0][:1] == "ש"]
    assert starts_hebrew   # the case this test is about does arise
    for r in rows:
        assert getattr(r, "directions", [False]) == [False]
        assert r.style.alignment != TA_RIGHT
    hebrew_note = "שלום " + "בדקתי את התמונה " * 40 + "Canon EOS " + "ועוד " * 30
    assert all(getattr(r, "directions", None) == [True] for r in text_rows(hebrew_note, chunk=200))


def _extracted(pdf) -> list[str]:
    """The PDF's text as pypdf and, where installed, poppler's pdftotext read it."""
    import shutil
    import subprocess

    import pypdf

    texts = ["".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages)]
    if shutil.which("pdftotext"):
        texts.append(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout)
    return texts


def test_an_emoji_the_font_draws_extracts_as_itself(tmp_path):
    """DejaVu draws 😀 (U+1F600), but reportlab's ToUnicode map wrote it as 5 hex digits and readers
    extracted "ὠ" (U+1F60): a search of the PDF for the name in the case found nothing."""
    from reportlab.platypus import SimpleDocTemplate

    from declip_desktop.report.blocks import P

    assert fonts.clean("holiday 😀.jpg") == "holiday 😀.jpg"   # drawn, not escaped
    out = tmp_path / "emoji.pdf"
    SimpleDocTemplate(str(out)).build([P("Item 1 · holiday 😀.jpg", "h1"), P("Seen 😀 and 𐌀 twice")])
    for text in _extracted(out):
        assert "holiday 😀.jpg" in text and "Seen 😀 and 𐌀 twice" in text, text
        assert "\u1f60" not in text


def test_characters_the_fonts_cannot_draw_are_written_as_code_points_everywhere(tmp_path):
    """A combining mark, an isolate, a private-use or unassigned code point and a letter only the regular
    face has were passed to the font and drawn as empty boxes; short table cells skipped clean() too."""
    from reportlab.platypus import SimpleDocTemplate

    from declip_desktop.report.blocks import P, kv_table
    from declip_desktop.report.names import name_markup

    for ch in "\u0526\u1ab0\u2066\ue000\u0378\U0001d5a0":
        assert fonts.clean(f"a{ch}b") == f"a[U+{ord(ch):04X}]b"
    assert fonts.clean("café \u200d Иван") == "café \u200d Иван"   # what the fonts have is untouched
    assert "[U+0526]" in name_markup("\u0526_photo.jpg", 100)
    out = tmp_path / "boxes.pdf"
    SimpleDocTemplate(str(out)).build([kv_table([("File", "\u0526.jpg"), ("Note", "mark a\u1ab0 private \ue000")]),
                                       P("Item 1 · x\U0001d5a0.jpg", "h1")])
    for text in _extracted(out):
        for escape in ("[U+0526].jpg", "a[U+1AB0]", "private [U+E000]", "x[U+1D5A0].jpg"):
            assert escape in text, (escape, text)
