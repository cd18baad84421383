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
