"""``text``: captured text made safe to show on a terminal, in Markdown and in HTML."""

from __future__ import annotations

from sentry_mirror.core.text import html_text, markdown, visible, visible_lines


def test_printable_text_is_left_as_it_is() -> None:
    assert "ValueError: ünïcödé ✓" == visible("ValueError: ünïcödé ✓")


def test_controls_bidi_and_invisible_characters_are_shown_escaped() -> None:
    assert "\\x1b[2J \\u202e \\u200b \\x00 \\x7f \\x85 \\ud800 \\U000e0041" == visible(
        "\x1b[2J \u202e \u200b \x00 \x7f \x85 \ud800 \U000e0041"
    )


def test_newlines_are_escaped_on_one_line_and_kept_in_lines() -> None:
    assert "a\\nb\\r\\tc" == visible("a\nb\r\tc")
    assert "a\nb\\r\\tc\\x1b" == visible_lines("a\nb\r\tc\x1b")


def test_values_that_are_not_text_are_shown_as_str() -> None:
    assert "42" == visible(42)
    assert "None" == visible_lines(None)


def test_markdown_syntax_and_html_are_escaped() -> None:
    """The visible escape's backslash is escaped too: Markdown shows ``\\x1b`` as it is."""
    assert "\\*bold\\* \\[link\\](x) \\| &lt;b&gt; &amp; \\`code\\` \\\\x1b" == markdown(
        "*bold* [link](x) | <b> & `code` \x1b"
    )


def test_html_text_escapes_quotes_too() -> None:
    assert "&lt;script&gt;&quot;x&#x27; \\u202e" == html_text("<script>\"x' \u202e")
