"""One self-contained HTML page: sections of figures, images and tables, images inlined as base64.

`build_report` takes explicit content, so any caller (``grainseg report``, ``grainseg demo``, a
notebook) can assemble its own page; `grainseg.report.collect` finds the content in output folders.
"""

from __future__ import annotations

import base64
import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from grainseg import __version__
from grainseg.io.atomic import write_text_atomic
from grainseg.io.png import png_bytes, rgb_png_bytes

#: Longest side of an image array embedded in the page (larger ones are decimated).
MAX_EMBED_SIDE_PX = 1400


@dataclass
class Item:
    """One element of a section.

    Attributes
    ----------
    kind : str
        ``"image"`` (``png`` holds PNG bytes), ``"table"`` (``header`` and ``rows``) or
        ``"text"`` (``caption`` only).
    caption : str
    png : bytes
    header : list of str
    rows : list of lists
    """

    kind: str
    caption: str = ""
    png: bytes = b""
    header: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)


@dataclass
class Section:
    """A titled group of items (one of the paper's figures or tables)."""

    title: str
    items: list[Item] = field(default_factory=list)
    note: str = ""


def figure_item(fig: Figure, caption: str = "") -> Item:
    """An item from a matplotlib figure."""
    return Item("image", caption, png=png_bytes(fig))


def array_item(image: np.ndarray, caption: str = "") -> Item:
    """An item from an (H, W, 3) uint8 or (H, W) image, decimated to `MAX_EMBED_SIDE_PX`."""
    step = int(np.ceil(max(image.shape[:2]) / MAX_EMBED_SIDE_PX))
    return Item("image", caption, png=rgb_png_bytes(np.ascontiguousarray(image[::step, ::step])))


def png_file_item(path: str | os.PathLike, caption: str = "") -> Item:
    """An item from an existing PNG file."""
    return Item("image", caption, png=Path(path).read_bytes())


def table_item(header: Sequence[str], rows: Sequence[Sequence], caption: str = "") -> Item:
    """An item from a table; floats are shown with 4 significant digits."""
    return Item("table", caption, header=list(header), rows=[list(r) for r in rows])


def text_item(text: str) -> Item:
    """A paragraph of text."""
    return Item("text", text)


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "&ndash;" if not np.isfinite(value) else f"{value:.4g}"
    if value is None:
        return "&ndash;"
    return html.escape(str(value))


def _render_item(item: Item) -> str:
    caption = html.escape(item.caption)
    if item.kind == "image":
        data = base64.b64encode(item.png).decode("ascii")
        return (f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                f"<figcaption>{caption}</figcaption></figure>")
    if item.kind == "table":
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in item.header)
        body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>"
                       for row in item.rows)
        cap = f"<caption>{caption}</caption>" if caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<p>{caption}</p>"


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
figure { display: inline-block; margin: .5em; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; max-height: 640px; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; max-width: 560px; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } caption { text-align: left; font-weight: bold; padding: .3em 0; }
.note { color: #666; font-size: .9em; }
"""


def build_report(sections: Sequence[Section], out_path: str | os.PathLike,
                 title: str = "grainseg report", intro: str = "") -> Path:
    """Write the sections as one self-contained HTML file (atomically).

    Parameters
    ----------
    sections : sequence of Section
        In page order; empty sections are left out.
    out_path : path
        The HTML file to write; its folder must exist.
    title, intro : str
        Page title and an optional first paragraph.

    Returns
    -------
    Path
        ``out_path``.
    """
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">grainseg {__version__}, written '
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}</p>",
    ]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    for section in sections:
        if not section.items:
            continue
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        parts.extend(_render_item(item) for item in section.items)
        parts.append("</section>")
    parts.append("</body></html>")
    out_path = Path(out_path)
    write_text_atomic(out_path, "\n".join(parts) + "\n")
    return out_path
