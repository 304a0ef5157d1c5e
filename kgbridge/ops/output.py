"""Readable tables and JSON for the ops commands.

Column widths count East Asian wide characters (field codes, statuses) as two cells, so
Japanese lines up in a terminal.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` cells, marking the cut with an ellipsis."""
    text = " ".join(str(text).split())
    if width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = width(ch)
        if used + w > limit - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [["-" if cell is None or cell == "" else str(cell) for cell in row] for row in rows]
    widths = [width(h) for h in headers]
    for row in rows:
        widths = [max(w, width(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell + " " * (w - width(cell)) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def to_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
