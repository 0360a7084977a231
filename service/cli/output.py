"""Rows printed for a reader: an aligned table, CSV, or a JSON array of objects."""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any


def write_rows(columns: Sequence[str], rows: Sequence[tuple[Any, ...]], fmt: str) -> None:
    """Print a result as an aligned table, CSV or a JSON array of objects."""
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        print(json.dumps(records, ensure_ascii=False, default=_json_value, indent=2))
    else:
        cells = [list(columns), *[["" if v is None else str(v) for v in row] for row in rows]]
        widths = [max(_width(line[i]) for line in cells) for i in range(len(columns))]
        for line in cells:
            padded = (v + " " * (w - _width(v)) for v, w in zip(line, widths, strict=True))
            print("  ".join(padded).rstrip())
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _json_value(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
