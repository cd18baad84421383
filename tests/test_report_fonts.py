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
