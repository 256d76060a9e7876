"""A self-contained HTML teaching file: images as data URIs, captions, notes, licences and attribution."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from html import escape

from medsearch.concepts import is_code, is_semantic_type, named_labels
from medsearch.serve.views import item_view

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#1d2430}
h1{font-size:1.6em;margin-bottom:.2em}.meta{color:#5a6472;font-size:.9em}
figure{margin:2em 0;padding:1em;border:1px solid #d6dbe3;border-radius:8px;page-break-inside:avoid}
figure img{max-width:100%;height:auto;display:block;margin:0 auto 1em;background:#000}
figcaption p{margin:.4em 0}.note{background:#f3f6fa;padding:.5em .8em;border-left:3px solid #3b6fb6}
.labels span{display:inline-block;background:#e8edf4;border-radius:4px;padding:0 .4em;margin:0 .3em .3em 0;font-size:.85em}
.attr{font-size:.85em;color:#5a6472}
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


PMC_URL = "https://www.ncbi.nlm.nih.gov/pmc/articles/{}/"


def readable_labels(labels: list[str]) -> list[str]:
    """The chips the page shows (app.js ``chips``): the names of the findings and body regions among the labels
    (a code such as C0032326 by its name), then the other plain labels; UMLS codes (kept in the data) and semantic
    types ("T047:Disease or Syndrome") left out."""
    names = named_labels(labels)
    seen = {name.lower() for name in names}
    plain = [label for label in labels if not is_code(label) and not is_semantic_type(label)
             and label.lower() not in seen]
    return names + list(dict.fromkeys(plain))


def _attribution_line(attr: dict) -> str:
    """archive / key, then the source fields (a PMC id becomes a link to the article)."""
    parts = [f"{escape(str(attr.get('archive') or ''))} / {escape(str(attr['key']))}"]
    for name, value in attr.items():
        if name in ("archive", "key", "licence", "image_relpath") or value in (None, ""):
            continue
        if name in ("pmc_id", "pmcid") and re.fullmatch(r"PMC\d+", str(value)):
            parts.append(f'<a href="{PMC_URL.format(value)}">{escape(str(value))}</a>')
        else:
            parts.append(f"{escape(str(name))}: {escape(str(value))}")
    return " · ".join(parts)


def figure(number: int, record, png: bytes | None, note: str | None) -> str:
    view = item_view(record)
    img = f'<img src="{data_uri(png)}" alt="figure {number}">' if png else ""
    labels = "".join(f"<span>{escape(label)}</span>" for label in readable_labels(view["labels"]))
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    licence = escape(view["licence"] or "licence unknown: check before reuse")
    return (
        f'<figure id="item-{view["item_id"]}">{img}<figcaption>'
        f"<p><strong>Figure {number}.</strong> {escape(view['text'])}</p>{note_html}"
        f'<p class="labels">{labels}</p>'
        f'<p class="attr">Licence: {licence}<br>Source: {_attribution_line(view["attribution"])}</p>'
        f"</figcaption></figure>"
    )


def render_teaching_file(title: str, entries: list[tuple[object, bytes | None, str | None]]) -> str:
    """entries: (ItemRecord, PNG bytes or None, author's note or None), in the author's order."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    licences = sorted({e[0].licence or "unknown" for e in entries})
    figures = "\n".join(figure(i + 1, record, png, note) for i, (record, png, note) in enumerate(entries))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">{len(entries)} figures · exported from medsearch on {created} · '
        f"licences: {escape(', '.join(licences))}. Each figure keeps its own licence and attribution; "
        "respect them (e.g. NC: non-commercial use only) when you share this file.</p>"
        f"{figures}</body></html>\n"
    )
