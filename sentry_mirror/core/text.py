"""Captured text made safe to show.

Whatever a client sends (titles, messages, tags, headers, SDK names, paths, a candidate's
``X-Sentry-Error``, ...) may hold terminal control sequences (``ESC [ 2 J`` clears the
operator's screen, ``ESC ] 8`` makes links), Unicode bidi overrides and other invisible
characters that make text read differently from what it is (Trojan Source), or lone
surrogates that cannot even be encoded. :func:`visible` shows each such character in a
visible escaped form (``\\x1b``, ``\\u202e``) and leaves all other text as it is.
:func:`markdown` and :func:`html_text` also neutralise what Markdown and HTML would read
as syntax. JSON output needs none of this (orjson escapes control characters itself).
"""

from __future__ import annotations

import html
import re

#: Unicode's control (Cc), format (Cf), surrogate (Cs), line (Zl) and paragraph (Zp)
#: separator characters, as of Unicode 14 (Python 3.11's unicodedata; a test checks the
#: running Python's database against it): C0, DEL, C1, soft hyphen, the bidi marks,
#: embeddings, overrides and isolates, zero-width characters, the BOM, tag characters, ...
_RANGES = (
    "\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[{_RANGES}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"(?!\n)[{_RANGES}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(value: object) -> str:
    """``value`` as one line of text with every control, format and separator character
    (newlines too) in an escaped, visible form: ``\\x1b``, ``\\n``, ``\\u202e``."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case, at C speed
        return text
    return _UNSAFE.sub(_escaped, text)


def visible_lines(value: object) -> str:
    """As :func:`visible`, but newlines stay newlines (for multi-line text: a body, a payload)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return _UNSAFE_BUT_NEWLINE.sub(_escaped, text)


#: What Markdown (GitHub's included) reads as syntax inside a line: emphasis, code, links
#: and images, headings' closing ``#``, table pipes, strikethrough, math; and HTML.
_MARKDOWN = str.maketrans({**{c: "\\" + c for c in "\\`*_[]#|~$"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"})


def markdown(value: object) -> str:
    """``value`` as literal Markdown text on one line: visible, with Markdown and HTML escaped."""
    return visible(value).translate(_MARKDOWN)


def html_text(value: object) -> str:
    """``value`` as literal HTML text: visible, with HTML escaped (quotes too)."""
    return html.escape(visible(value))


def nonempty(value: object, limit: int | None = None) -> str | None:
    """``value`` when it is a non-empty string (cut to ``limit`` characters), else None: how
    readers take an optional name, URL or release from a captured (untrusted) document."""
    return value[:limit] if isinstance(value, str) and value else None
