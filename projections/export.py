"""``hsl export``: a table, a view or one read-only query of the views, to CSV, Parquet or XLSX.

The choices, also in docs/analytics.md ("Export"):

- **CSV** is UTF-8 *with* a byte-order mark and CRLF line ends, so Excel and WPS on a Chinese
  Windows open it as UTF-8 instead of GBK. The header row is in Chinese
  (``projections/headers.py``); booleans are 是/否, nulls are empty, dates ``YYYY-MM-DD`` and
  times ``YYYY-MM-DD HH:MM:SS`` (UTC, as in the views).
- **XLSX** has the same Chinese header row, frozen, with a filter; numbers are numbers, dates and
  times are real Excel dates and date-times (UTC), booleans 是/否 (readable, and a filter or
  ``COUNTIF(…, "是")`` works on them). Text is always written as text, never as a formula.
- **Parquet** is for programs, not people: DuckDB writes it (``COPY … (FORMAT parquet)``) with
  the column names and types of the views, so it reads back equal; the Chinese headers travel in
  the file's key-value metadata under ``hsl:headers`` (a JSON object, column → header).

Every export is written to a temporary file beside the output and renamed over it once
complete: a failed export leaves no file, and an existing file is replaced only by a whole one.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import duckdb
import xlsxwriter  # type: ignore[import-untyped]  # ships no annotations
from xlsxwriter.exceptions import XlsxWriterException  # type: ignore[import-untyped]

from projections.headers import headers_for
from projections.sql_sandbox import (
    SELECT,
    SandboxError,
    check_read_only,
    described,
    open_sandboxed,
)

FORMATS: Final[tuple[str, ...]] = ("csv", "parquet", "xlsx")
SUFFIXES: Final[dict[str, str]] = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}
FETCH: Final = 10_000
"""Rows fetched from DuckDB at a time for CSV and XLSX."""
XLSX_MAX_ROWS: Final = 1_048_575
"""Data rows that fit in one Excel worksheet under the header row (Excel's limit is 2^20)."""
XLSX_MAX_COLUMNS: Final = 16_384
XLSX_MAX_TEXT: Final = 32_767
"""Characters Excel keeps in one cell."""
TRUE_TEXT: Final = "是"
FALSE_TEXT: Final = "否"


class ExportError(ValueError):
    """Bad input or an export that failed; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class Source:
    """What is exported: one SELECT, its column names and their spreadsheet headers."""

    sql: str
    columns: list[str]
    headers: list[str]
    label: str
    """``outcomes`` or ``query``: names the sheet and the summary line."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    rows: int
    label: str


def format_for(output: Path, fmt: str | None) -> str:
    """The format asked for, or the one the output's suffix names."""
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            msg = f"unknown format {fmt!r}: use {', '.join(FORMATS)}"
            raise ExportError(msg)
        return fmt.lower()
    found = SUFFIXES.get(output.suffix.lower())
    if found is None:
        msg = (
            f"cannot tell the format from {output.name!r}: name the file .csv, .parquet or "
            f".xlsx, or pass --format {'|'.join(FORMATS)}"
        )
        raise ExportError(msg)
    return found


def export(
    views: Path,
    output: Path,
    *,
    relation: str | None = None,
    sql: str | None = None,
    fmt: str | None = None,
    as_of: date | None = None,
) -> ExportResult:
    """Write ``relation`` (a table or view) or ``sql`` (one SELECT) of ``views`` to ``output``."""
    if relation is None and sql is None:
        msg = 'name the table or view to export (e.g. outcomes), or pass --sql "SELECT …"'
        raise ExportError(msg)
    if relation is not None and sql is not None:
        msg = f"export either the table or view {relation!r} or the --sql query, not both"
        raise ExportError(msg)
    if sql is not None and as_of is not None:
        msg = "--as-of goes with a view name; in --sql call the view's _as_of macro instead"
        raise ExportError(msg)
    _check_output(output)
    chosen = format_for(output, fmt)
    if not views.exists():
        msg = f"no views at {views}: run `hsl projections rebuild` first"
        raise ExportError(msg)
    write = {"csv": _write_csv, "parquet": _write_parquet, "xlsx": _write_xlsx}[chosen]
    with _replacing(output) as temporary:
        # DuckDB itself writes only a Parquet file, and only that one (projections.sql_sandbox).
        writable = [temporary] if chosen == "parquet" else []
        with _sandboxed(views, writable) as con:
            if relation is not None:
                source = relation_source(con, relation, as_of)
            else:
                assert sql is not None
                source = query_source(con, sql)
            rows = write(con, source, temporary)
    return ExportResult(path=output, format=chosen, rows=rows, label=source.label)


# --- what to export --------------------------------------------------------------------------


def relation_source(
    con: duckdb.DuckDBPyConnection, relation: str, as_of: date | None = None
) -> Source:
    """``SELECT *`` of a table or view; with ``as_of``, of its ``<name>_as_of`` table macro."""
    names = {
        str(name).lower(): str(name)
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    name = names.get(relation.lower())
    if name is None:
        msg = f"unknown table or view {relation!r}: the views have {', '.join(sorted(names))}"
        raise ExportError(msg)
    sql = f"SELECT * FROM {_identifier(name)}"
    if as_of is not None:
        macro = f"{name}_as_of"
        found = con.execute(
            "SELECT 1 FROM duckdb_functions() WHERE function_name = ? "
            "AND function_type = 'table_macro'",
            [macro],
        ).fetchone()
        if found is None:
            msg = f"{name} has no as-of form (no table macro {macro}): drop --as-of"
            raise ExportError(msg)
        sql = f"SELECT * FROM {_identifier(macro)}(DATE '{as_of.isoformat()}')"
    columns = _columns(con, sql)
    return Source(sql=sql, columns=columns, headers=headers_for(columns, name), label=name)


def query_source(con: duckdb.DuckDBPyConnection, sql: str) -> Source:
    """One read-only SELECT (``WITH``, ``FROM``-first and ``VALUES`` count as SELECT)."""
    try:
        check_read_only(con, sql, (SELECT,))
    except SandboxError as e:
        raise ExportError(f"export refused: --sql: {e}") from e
    text = sql.strip().rstrip(";").strip()
    columns = _columns(con, text)
    return Source(sql=text, columns=columns, headers=headers_for(columns), label="query")


def _columns(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The result's column names, from binding the query (nothing is read yet)."""
    try:
        return list(con.sql(sql).columns)
    except duckdb.Error as e:
        raise ExportError(f"bad SQL: {described(e)}") from e


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- files -----------------------------------------------------------------------------------


def _check_output(output: Path) -> None:
    if output.is_dir():
        raise ExportError(f"cannot write {output}: it is a directory")
    parent = output.parent
    if not parent.exists():
        raise ExportError(f"cannot write {output}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ExportError(f"cannot write {output}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {output}: directory {parent} is not writable")


@contextlib.contextmanager
def _sandboxed(views: Path, writable: Sequence[Path]) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        con = open_sandboxed(views, writable=writable)
    except SandboxError as e:
        raise ExportError(str(e)) from e
    try:
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def _replacing(output: Path) -> Iterator[Path]:
    """A temporary path beside ``output``, renamed over it if the block completes."""
    try:
        fd, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    except OSError as e:
        raise ExportError(f"cannot write {output}: {e.strerror or e}") from e
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        # The mode a file created here would get under the umask (owner-only under `hsl`,
        # which runs with umask 077), not mkstemp's fixed 0600.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- CSV -------------------------------------------------------------------------------------


def _write_csv(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)  # excel dialect: commas, CRLF, quotes where needed
        writer.writerow(source.headers)
        for batch in _batches(con, source.sql):
            writer.writerows([_text(value) for value in row] for row in batch)
            count += len(batch)
    return count


def _text(value: object) -> str:
    """A cell of the CSV: see the module docstring."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return TRUE_TEXT if value else FALSE_TEXT
    if isinstance(value, datetime):
        return _naive_utc(value).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _naive_utc(value: datetime) -> datetime:
    """Views hold naive UTC; a ``TIMESTAMPTZ`` of a query is converted to the same."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _batches(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    try:
        cursor = con.execute(sql)
        while batch := cursor.fetchmany(FETCH):
            yield batch
    except duckdb.Error as e:
        raise ExportError(f"query failed: {described(e)}") from e


# --- Parquet ---------------------------------------------------------------------------------


def _write_parquet(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> int:
    headers = json.dumps(dict(zip(source.columns, source.headers, strict=True)), ensure_ascii=False)
    target = str(path).replace("'", "''")
    metadata = headers.replace("'", "''")
    sql = (
        f"COPY (\n{source.sql}\n) TO '{target}' "
        f"(FORMAT parquet, COMPRESSION zstd, USE_TMP_FILE false, "  # the one writable path
        f"KV_METADATA {{'hsl:headers': '{metadata}'}})"
    )
    try:
        row = con.execute(sql).fetchone()
    except duckdb.Error as e:
        raise ExportError(f"query failed: {described(e)}") from e
    return 0 if row is None else int(row[0])


# --- XLSX ------------------------------------------------------------------------------------


def _write_xlsx(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> int:
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # rows stream to disk: large exports fit in memory
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,  # NaN and infinities become #NUM! instead of failing
        },
    )
    try:
        count = _fill_sheet(workbook, con, source)
    except BaseException:
        # Close anyway: xlsxwriter's temporary row files go with it (the file is removed).
        with contextlib.suppress(Exception):
            workbook.close()
        raise
    try:
        workbook.close()
    except (OSError, XlsxWriterException) as e:
        raise ExportError(f"cannot write {path}: {e}") from e
    return count


def _fill_sheet(workbook: Any, con: duckdb.DuckDBPyConnection, source: Source) -> int:
    sheet = workbook.add_worksheet(_sheet_name(source.label))
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    width = len(source.columns)
    if width > XLSX_MAX_COLUMNS:
        msg = f"{width} columns do not fit in an XLSX sheet (at most {XLSX_MAX_COLUMNS})"
        raise ExportError(msg)
    sheet.freeze_panes(1, 0)
    count = 0
    for batch in _batches(con, source.sql):
        if count == 0:
            _set_widths(sheet, source.headers, batch)
            sheet.write_row(0, 0, source.headers, bold)
        if count + len(batch) > XLSX_MAX_ROWS:
            msg = (
                f"{source.label} has more than {XLSX_MAX_ROWS} rows, the most an XLSX sheet "
                "holds: export csv or parquet instead"
            )
            raise ExportError(msg)
        for row in batch:
            count += 1
            for column, value in enumerate(row):
                if value is None:
                    continue
                _write_cell(
                    sheet,
                    count,
                    column,
                    value,
                    date_format=date_format,
                    datetime_format=datetime_format,
                )
    if count == 0:
        _set_widths(sheet, source.headers, [])
        sheet.write_row(0, 0, source.headers, bold)
    if width:
        sheet.autofilter(0, 0, count, width - 1)
    return count


def _write_cell(
    sheet: Any, row: int, column: int, value: object, *, date_format: Any, datetime_format: Any
) -> None:
    """Numbers as numbers, dates and times as Excel dates, booleans 是/否, the rest as text."""
    if isinstance(value, bool):  # before int: bool is an int
        sheet.write_string(row, column, TRUE_TEXT if value else FALSE_TEXT)
    elif isinstance(value, int | float | Decimal):
        sheet.write_number(row, column, float(value) if isinstance(value, Decimal) else value)
    elif isinstance(value, datetime):  # before date: a datetime is a date
        sheet.write_datetime(row, column, _naive_utc(value), datetime_format)
    elif isinstance(value, date):
        sheet.write_datetime(row, column, value, date_format)
    else:  # text; UUIDs, times, intervals, lists and structs as their text
        _write_text(sheet, row, column, value if isinstance(value, str) else _text(value))


def _write_text(sheet: Any, row: int, column: int, value: str) -> int:
    if len(value) > XLSX_MAX_TEXT:
        msg = f"a text of {len(value)} characters in row {row} does not fit in an XLSX cell"
        raise ExportError(msg)
    result: int = sheet.write_string(row, column, value)
    return result


def _set_widths(sheet: Any, headers: Sequence[str], sample: Sequence[tuple[Any, ...]]) -> None:
    """Column widths from the header and the first rows, within reason."""
    for column, header in enumerate(headers):
        widest = _display_width(header) + 2  # room for the filter button
        for row in sample[:200]:
            value = row[column]
            if isinstance(value, datetime):
                widest = max(widest, 19)
            elif value is not None:
                widest = max(widest, _display_width(_text(value)))
        sheet.set_column(column, column, min(widest + 1, 60))


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_name(label: str) -> str:
    """Excel's rules: at most 31 characters, none of ``[]:*?/\\``."""
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in label).strip("'")
    return cleaned[:31] or "export"
