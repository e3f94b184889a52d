"""The report and the diff as one self-contained HTML page (inline CSS and SVG charts), from
the document model of :mod:`sentry_mirror.ui.render_report`."""

from __future__ import annotations

from collections.abc import Sequence

from sentry_mirror.core import text
from sentry_mirror.ui.render_report import Cell, Chart, Section, Table, cell

_CSS = """
:root{--fg:#1d1d1f;--muted:#6b6b76;--line:#e3e3e8;--bar:#6c5fc7;--bg:#fff;--alt:#f7f7fa}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:2px solid var(--line);padding-bottom:4px;margin-top:36px}
h3{font-size:15px;margin:18px 0 6px}nav a{margin-right:12px;color:var(--bar);text-decoration:none}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}dt{color:var(--muted)}dd{margin:0}
table{border-collapse:collapse;margin:4px 0 12px;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid var(--line);
text-align:left;vertical-align:top;max-width:520px;overflow-wrap:anywhere}th{background:var(--alt)}td.n,th.n{text-align:right;
font-variant-numeric:tabular-nums}.note{color:var(--muted);font-style:italic}figure{margin:8px 0 16px}
figcaption{color:var(--muted);font-size:12px}svg text{font:11px system-ui,sans-serif;fill:var(--fg)}svg .bar{fill:var(--bar)}
.grid{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
details>summary{cursor:pointer;font-weight:600;margin:10px 0 4px}
"""


def _e(value: Cell) -> str:
    return text.html_text(cell(value))


def _svg(chart: Chart) -> str:
    points = chart.points[:60] if chart.kind == "bars" else chart.points[-720:]
    if not points:
        return ""
    top = max(value for _, value in points) or 1
    if chart.kind == "series":
        width, height = 720, 160
        step = width / len(points)
        bars = "".join(
            f'<rect class="bar" x="{i * step:.2f}" y="{height - 20 - (v / top) * (height - 30):.2f}" '
            f'width="{max(step - 1, 0.5):.2f}" height="{(v / top) * (height - 30):.2f}"><title>{_e(label)}: {v:g}</title></rect>'
            for i, (label, v) in enumerate(points)
        )
        labels = f'<text x="0" y="{height - 4}">{_e(points[0][0])}</text><text x="{width}" y="{height - 4}" text-anchor="end">{_e(points[-1][0])}</text>'
        axis = f'<text x="{width}" y="10" text-anchor="end">max {top:g}</text>'
        body = bars + labels + axis
    else:
        width, row = 720, 18
        height = row * len(points) + 4
        body = "".join(
            f'<text x="0" y="{i * row + 13}">{_e(label[:40])}</text>'
            f'<rect class="bar" x="260" y="{i * row + 3}" width="{(v / top) * 400:.2f}" height="{row - 5}"><title>{_e(label)}: {v:g}</title></rect>'
            f'<text x="{266 + (v / top) * 400:.2f}" y="{i * row + 13}">{v:g}</text>'
            for i, (label, v) in enumerate(points)
        )
    return (
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="{_e(chart.title)}">{body}</svg><figcaption>{_e(chart.title)}</figcaption></figure>'
    )


def _html_table(table: Table, fold: bool) -> str:
    head = "".join(f'<th class="{"n" if i in table.numeric else ""}">{_e(c)}</th>' for i, c in enumerate(table.columns))
    rows = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if i in table.numeric else ""}">{_e(v)}</td>' for i, v in enumerate(row))
        + "</tr>"
        for row in table.rows
    )
    inner = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if fold:
        return f"<details><summary>{_e(table.title)} ({len(table.rows)})</summary>{inner}</details>"
    return f"<h3>{_e(table.title)}</h3>{inner}"


def html_page(sections: Sequence[Section], title: str = "sentry-mirror report") -> str:
    """One self-contained HTML file: inline CSS and SVG, no script, nothing fetched."""
    nav = "".join(f'<a href="#{s.key}">{_e(s.title)}</a>' for s in sections)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1><nav>{nav}</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{_e(section.title)}</h2>')
        if section.facts:
            parts.append("<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in section.facts) + "</dl>")
        parts += [_svg(chart) for chart in section.charts]
        small = [t for t in section.tables if t.rows and len(t.columns) == 2 and section.key != "fields"]
        if small:
            parts.append(
                '<div class="grid">' + "".join(f"<div>{_html_table(t, fold=False)}</div>" for t in small) + "</div>"
            )
        parts += [
            _html_table(t, fold=section.key == "fields" and i > 0)
            for i, t in enumerate(section.tables)
            if t.rows and t not in small
        ]
        parts += [f'<p class="note">{_e(note)}</p>' for note in section.notes]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
