"""A self-contained HTML teaching file of cases: each case's title, history, findings, differential and
diagnosis, its images (data URIs) with their captions, and every licence."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from medsearch.archives.case import SECTION_TITLES
from medsearch.serve.export_html import STYLE, data_uri, figure, readable_labels

CASE_STYLE = ".case{margin:2.5em 0;padding:1em;border:1px solid #b8c2d0;border-radius:8px}" \
             ".strip{display:flex;flex-wrap:wrap;gap:.8em}.strip figure{flex:1 1 220px;margin:0;border:0;padding:0}" \
             ".section h3{font-size:1em;margin:.8em 0 .2em}"


def case_licences(view: dict, images: list) -> list[str]:
    """The case's own licence, else those of its items (a PMC article states none; its figures do)."""
    if view.get("licence"):
        return [view["licence"]]
    return sorted({record.licence for record, _ in images if record.licence})


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def case_block(number: int, view: dict, images: list, note: str | None) -> str:
    title = view.get("title") or view.get("diagnosis") or view["case"]
    sections = "".join(
        f'<div class="section"><h3>{escape(SECTION_TITLES.get(name, name.capitalize()))}</h3>'
        f"<p>{escape(text)}</p></div>"
        for name, text in view.get("sections", {}).items() if name != "discussion")
    figures = []
    for record, png in images:
        img = f'<img src="{data_uri(png)}" alt="{escape(record.key)}">' if png else ""
        figures.append(f"<figure>{img}<figcaption><p>{escape(record.text or '')}</p>"
                       f'<p class="attr">{escape(record.key)} · licence: {escape(record.licence or "unknown")}</p>'
                       "</figcaption></figure>")
    labels = "".join(f"<span>{escape(label)}</span>" for label in readable_labels(view.get("labels", [])))
    licence = "; ".join(case_licences(view, images)) or "licence unknown: check before reuse"
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return (f'<section class="case" id="case-{escape(view["case"])}"><h2>Case {number}. {escape(title)}</h2>'
            f"{note_html}{sections}<div class=\"strip\">{''.join(figures)}</div>"
            f'<p class="labels">{labels}</p>'
            f'<p class="attr">Licence: {escape(licence)}<br>Source: {escape(view["archive"])} / {escape(view["case"])}</p>'
            "</section>")


def render_case_file(title: str, entries: list[tuple[dict, list, str | None]], figures: list | None = None) -> str:
    """entries: (case view, [(ItemRecord, PNG or None)], author's note or None), in the author's order; then
    ``figures``: single items (ItemRecord, PNG or None, note or None) as in the item teaching file."""
    figures = figures or []
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    licences = sorted({licence for view, images, _ in entries for licence in case_licences(view, images) or ["unknown"]}
                      | {record.licence or "unknown" for record, _, _ in figures})
    blocks = "\n".join(case_block(i + 1, view, images, note) for i, (view, images, note) in enumerate(entries))
    blocks += "\n".join(figure(i + 1, record, png, note) for i, (record, png, note) in enumerate(figures))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{STYLE}{CASE_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">{counted(len(entries), "case")}, {counted(len(figures), "figure")} · exported from '
        f"medsearch on {created} · "
        f"licences: {escape(', '.join(licences))}. Each case keeps its own licence and attribution; respect them "
        "when you share this file.</p>"
        f"{blocks}</body></html>\n"
    )
