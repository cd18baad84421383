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
