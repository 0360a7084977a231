"""`hsl export`: CSV, Parquet and XLSX from views built out of a real nats-server log.

The views are built once per module: a scenario writes every kind of event to JetStream, a
rebuild projects it into ``<data>/projections.duckdb``, and every test exports from that file
(read-only, so no test changes what another sees).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import duckdb
import pytest
import structlog

from projections import export as export_module
from projections.headers import COLUMN_HEADERS, SHARED_HEADERS, header_for, headers_for
from projections.rebuild import rebuild
from projections.schema import create_schema
from service.cli.main import main
from service.nats.bundled_server import NatsServerProcess
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import full_lifecycle

CJK = re.compile(r"[\u4e00-\u9fff]")
NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose projections.duckdb was rebuilt from a real JetStream log."""
    root = tmp_path_factory.mktemp("export")
    server = NatsServerProcess(store_dir=root / "nats")
    server.start()
    try:
        s = JetStreamScenario(server.url)
        try:
            full_lifecycle(s)
            s.assigned()  # deadline 2024-12-31, never completed: overdue from 2025 on
            rebuild(s.app.recorder, s.app.name, root / "data" / "projections.duckdb")
        finally:
            s.app.close()
    finally:
        server.stop()
    return root / "data"


@pytest.fixture
def data_dir(views: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run ``main()`` in-process on the built views; restore the logging it configures."""
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("HSL_LOG_LEVEL", raising=False)
    monkeypatch.setenv("HSL_DATA_DIR", str(views))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield views
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory for the exported files."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def source(views: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with duckdb.connect(str(views / "projections.duckdb"), read_only=True) as con:
        cursor = con.execute(sql)
        return [d[0] for d in cursor.description or ()], cursor.fetchall()


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_csv_text(value: object) -> str:
    """What the CSV should hold for a value of the views (the documented conventions)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


# --- XLSX read back with the standard library ------------------------------------------------


def column_index(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    assert letters is not None
    index = 0
    for ch in letters.group():
        index = index * 26 + ord(ch) - ord("A") + 1
    return index - 1


def read_xlsx(path: Path) -> tuple[list[list[tuple[str | None, str]]], ElementTree.Element]:
    """Every row's cells as (type, text), the cell type "" for numbers; and the sheet element."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            strings = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{{{NS['x']}}}t")) for si in strings]
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows: list[list[tuple[str | None, str]]] = []
    for row in sheet.iterfind("x:sheetData/x:row", NS):
        cells: list[tuple[str | None, str]] = []
        for c in row.iterfind("x:c", NS):
            at = column_index(c.attrib["r"])
            cells += [(None, "")] * (at - len(cells))
            kind = c.attrib.get("t", "")
            if kind == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{{{NS['x']}}}t"))
                cells.append(("s", text))
            elif kind == "s":
                v = c.find("x:v", NS)
                assert v is not None
                cells.append(("s", shared[int(v.text or "")]))
            else:
                v = c.find("x:v", NS)
                cells.append((kind, "" if v is None else v.text or ""))
        rows.append(cells)
    return rows, sheet


def excel_serial(value: datetime | date) -> float:
    """Excel's day number (1900 system) of a date or a time."""
    if isinstance(value, datetime):
        delta = value - datetime(1899, 12, 30)
        return delta.days + delta.seconds / 86400
    return float((value - date(1899, 12, 30)).days)


# --- CSV -------------------------------------------------------------------------------------


class TestCsv:
    def test_round_trips_with_chinese_headers(
        self, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A UTF-8 file with BOM: Chinese headers, then every row of the table as stored."""
        code, stdout, err = export(capsys, "outcomes", "-o", str(out / "成果.csv"))
        assert code == 0, err
        columns, expected = source(data_dir, "SELECT * FROM outcomes")
        assert (
            stdout.strip()
            == f"exported {len(expected)} rows of outcomes to {out / '成果.csv'} (csv)"
        )
        raw = (out / "成果.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
        assert b"\r\n" in raw
        header, *body = read_csv(out / "成果.csv")
        assert header == [COLUMN_HEADERS["outcomes"][c] for c in columns]
        assert header[:7] == [
            "成果编号", "协商活动编号", "议题编号", "议事室编号",
            "成果类型", "成果名称", "所处环节",
        ]  # fmt: skip
        assert body == [[as_csv_text(v) for v in row] for row in expected]
        by_id = {row[0]: dict(zip(header, row, strict=True)) for row in body}
        implemented = next(r for r in by_id.values() if r["责任单位"] == "镇建设局")
        assert implemented["办理期限"] == "2024-12-31"
        assert implemented["需要落实"] == "是"
        assert implemented["落实进度（%）"] == "100"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", implemented["采纳时间"])
        declined = next(r for r in by_id.values() if r["不予采纳时间"])
        assert declined["采纳时间"] == ""  # null
        assert declined["落实不到位"] == "否"

    def test_view_as_of_a_date(
        self, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--as-of exports outcome_status as it stood on that day: overdue changes with it."""
        for day in ("2024-12-31", "2025-01-01"):
            path = out / f"{day}.csv"
            code, _, err = export(capsys, "outcome_status", "--as-of", day, "-o", str(path))
            assert code == 0, err
            _, expected = source(
                data_dir, f"SELECT * FROM outcome_status_as_of(DATE '{day}') ORDER BY outcome_id"
            )
            header, *body = read_csv(path)
            assert sorted(body) == [[as_csv_text(v) for v in row] for row in expected]
            overdue = [row[header.index("逾期未落实")] for row in body]
            assert overdue.count("是") == (1 if day == "2025-01-01" else 0)

    @pytest.mark.parametrize("view", ["overdue_implementations", "stalled_implementations"])
    def test_analytics_views_as_of(
        self, view: str, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The analytics views with an as-of macro export as of a date, with Chinese headers."""
        path = out / f"{view}.csv"
        code, _, err = export(capsys, view, "--as-of", "2025-01-01", "-o", str(path))
        assert code == 0, err
        columns, expected = source(data_dir, f"SELECT * FROM {view}_as_of(DATE '2025-01-01')")
        header, *body = read_csv(path)
        assert header == [COLUMN_HEADERS[view][c] for c in columns]
        assert sorted(body) == sorted([as_csv_text(v) for v in row] for row in expected)
        if view == "overdue_implementations":
            assert len(body) == 1  # the assigned outcome whose deadline passed on 2024-12-31

    def test_query_keeps_unknown_column_names(
        self, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A query's known columns get their headers; a computed one keeps its name."""
        sql = "SELECT stage, count(*) AS n FROM outcomes GROUP BY stage ORDER BY stage;"
        code, stdout, err = export(capsys, "--sql", sql, "-o", str(out / "q.csv"))
        assert code == 0, err
        assert "of query to" in stdout
        _, expected = source(data_dir, sql)
        assert read_csv(out / "q.csv") == [
            ["所处环节", "n"],
            *[[str(stage), str(n)] for stage, n in expected],
        ]

    def test_from_another_views_file(
        self, data_dir: Path, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--db exports from another file (e.g. one `hsl replay --as-of` wrote), the same way."""
        copy = tmp_path / "copy.duckdb"
        shutil.copyfile(data_dir / "projections.duckdb", copy)
        code, _, err = export(capsys, "topics", "-o", str(out / "a.csv"))
        assert code == 0, err
        code, _, err = export(capsys, "topics", "--db", str(copy), "-o", str(out / "b.csv"))
        assert code == 0, err
        assert (out / "a.csv").read_bytes() == (out / "b.csv").read_bytes()
        code, _, err = export(capsys, "topics", "--db", str(tmp_path / "no.duckdb"), "-o", "x.csv")
        assert code == 1
        assert err.strip() == f"hsl: error: no views at {tmp_path / 'no.duckdb'}"

    def test_replaces_an_existing_file(
        self, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = out / "rooms.csv"
        path.write_text("old", encoding="utf-8")
        code, _, err = export(capsys, "rooms", "-o", str(path), "--format", "CSV")
        assert code == 0, err
        assert read_csv(path)[0][:2] == ["议事室编号", "议事室名称"]
        assert [p.name for p in out.iterdir()] == ["rooms.csv"]


# --- Parquet ---------------------------------------------------------------------------------


class TestParquet:
    @pytest.mark.parametrize("relation", ["outcomes", "outcome_status", "rooms", "participants"])
    def test_reads_back_equal_to_the_source(
        self, relation: str, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Same column names, types and rows; the Chinese headers ride in the metadata."""
        path = out / f"{relation}.parquet"
        code, _, err = export(capsys, relation, "-o", str(path))
        assert code == 0, err
        views = str(data_dir / "projections.duckdb")
        with duckdb.connect() as con:
            con.execute(f"ATTACH '{views}' AS v (READ_ONLY)")
            source_types = con.execute(f"DESCRIBE v.{relation}").fetchall()
            file_types = con.execute(f"DESCRIBE '{path}'").fetchall()
            assert [r[:2] for r in file_types] == [r[:2] for r in source_types]
            only_in_one = con.execute(
                f"(SELECT * FROM v.{relation} EXCEPT ALL SELECT * FROM '{path}') UNION ALL "
                f"(SELECT * FROM '{path}' EXCEPT ALL SELECT * FROM v.{relation})"
            ).fetchall()
            assert only_in_one == []
            counts = con.execute(
                f"SELECT (SELECT count(*) FROM v.{relation}), (SELECT count(*) FROM '{path}')"
            ).fetchone()
            assert counts is not None
            assert counts[0] == counts[1] > 0
            metadata = con.execute(
                f"SELECT value FROM parquet_kv_metadata('{path}') WHERE key = 'hsl:headers'"
            ).fetchone()
        assert metadata is not None
        headers = json.loads(bytes(metadata[0]).decode())
        assert headers == COLUMN_HEADERS[relation]


# --- XLSX ------------------------------------------------------------------------------------


class TestXlsx:
    def test_headers_values_and_types(
        self, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Chinese header row, frozen; numbers, dates and times typed; booleans 是/否."""
        path = out / "status.xlsx"
        code, _, err = export(capsys, "outcome_status", "-o", str(path))
        assert code == 0, err
        columns, expected = source(data_dir, "SELECT * FROM outcome_status")
        rows, sheet = read_xlsx(path)
        header, *body = rows
        assert [text for _, text in header] == [
            COLUMN_HEADERS["outcome_status"][c] for c in columns
        ]
        assert len(body) == len(expected)
        for cells, want in zip(body, expected, strict=True):
            padded = cells + [(None, "")] * (len(columns) - len(cells))
            for (kind, text), value, column in zip(padded, want, columns, strict=True):
                where = f"{column}={value!r}"
                if value is None:
                    assert kind is None, where
                elif isinstance(value, bool):
                    assert (kind, text) == ("s", "是" if value else "否"), where
                elif isinstance(value, int | float | Decimal):
                    assert kind == "", where
                    assert float(text) == float(value), where
                elif isinstance(value, datetime | date):
                    assert kind == "", where
                    assert float(text) == pytest.approx(excel_serial(value), abs=1e-6), where
                else:
                    assert (kind, text) == ("s", str(value)), where
        pane = sheet.find("x:sheetViews/x:sheetView/x:pane", NS)
        assert pane is not None
        assert pane.attrib["state"] == "frozen"
        assert pane.attrib["ySplit"] == "1"
        assert sheet.find("x:autoFilter", NS) is not None

    def test_dates_have_date_formats(
        self, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The deadline cell shows as a date: its style's number format is yyyy-mm-dd."""
        path = out / "d.xlsx"
        sql = "SELECT deadline, adopted_at FROM outcomes WHERE deadline IS NOT NULL LIMIT 1"
        code, _, err = export(capsys, "--sql", sql, "-o", str(path))
        assert code == 0, err
        with zipfile.ZipFile(path) as z:
            styles = ElementTree.fromstring(z.read("xl/styles.xml"))
            sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
        formats = {
            f.attrib["numFmtId"]: f.attrib["formatCode"]
            for f in styles.iterfind("x:numFmts/x:numFmt", NS)
        }
        xfs = [xf.attrib.get("numFmtId") for xf in styles.iterfind("x:cellXfs/x:xf", NS)]
        cells = sheet.findall("x:sheetData/x:row", NS)[1].findall("x:c", NS)
        shown = [formats[str(xfs[int(c.attrib["s"])])] for c in cells]
        assert shown == ["yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"]
        assert [header for _, header in read_xlsx(path)[0][0]] == ["办理期限", "采纳时间"]

    @pytest.mark.parametrize("suffix", ["csv", "xlsx", "parquet"])
    def test_an_empty_result_still_has_its_header(
        self, suffix: str, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = out / f"empty.{suffix}"
        sql = "SELECT outcome_id, stage FROM outcomes WHERE false"
        code, stdout, err = export(capsys, "--sql", sql, "-o", str(path))
        assert code == 0, err
        assert "exported 0 rows" in stdout
        if suffix == "csv":
            assert read_csv(path) == [["成果编号", "所处环节"]]
        elif suffix == "xlsx":
            assert read_xlsx(path)[0] == [[("s", "成果编号"), ("s", "所处环节")]]
        else:
            with duckdb.connect() as con:
                assert con.execute(f"SELECT count(*) FROM '{path}'").fetchall() == [(0,)]

    def test_too_many_rows_for_a_sheet(
        self,
        data_dir: Path,
        out: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Past Excel's row limit the export fails whole, pointing at CSV or Parquet."""
        monkeypatch.setattr(export_module, "XLSX_MAX_ROWS", 1)
        code, _, err = export(capsys, "outcomes", "-o", str(out / "big.xlsx"))
        assert code == 1
        assert "the most an XLSX sheet holds" in err
        assert list(out.iterdir()) == []


# --- bad input -------------------------------------------------------------------------------

BAD_INPUT = [
    (["nosuch", "-o", "{out}/x.csv"], "unknown table or view 'nosuch'"),
    (["--sql", "SELEC 1", "-o", "{out}/x.csv"], "bad SQL: Parser Error"),
    (["--sql", "SELECT nope FROM outcomes", "-o", "{out}/x.csv"], 'column "nope" not found'),
    (["--sql", "DELETE FROM outcomes", "-o", "{out}/x.csv"], "not DELETE"),
    (["--sql", "COPY outcomes TO '{out}/y.csv'", "-o", "{out}/x.csv"], "not COPY"),
    (["--sql", "SELECT 1; DROP TABLE outcomes", "-o", "{out}/x.csv"], "exactly one SELECT"),
    (["outcomes", "-o", "{out}/x.xls"], "cannot tell the format from 'x.xls'"),
    (["outcomes", "--format", "xls", "-o", "{out}/x.csv"], "unknown format 'xls'"),
    (["outcomes", "-o", "{out}/missing/x.csv"], "missing does not exist"),
    (["outcomes", "-o", "{out}/file.txt/x.csv"], "file.txt is not a directory"),
    (["outcomes", "-o", "{out}/dir"], "it is a directory"),
    (["rooms", "--as-of", "2025-01-01", "-o", "{out}/x.csv"], "rooms has no as-of form"),
    (["outcome_status", "--as-of", "2025-13-01", "-o", "{out}/x.csv"], "not a date"),
    (["--sql", "SELECT 1", "--as-of", "2025-01-01", "-o", "{out}/x.csv"], "--as-of goes with"),
    (["outcomes", "--sql", "SELECT 1", "-o", "{out}/x.csv"], "not both"),
    (["-o", "{out}/x.csv"], "name the table or view to export"),
    (["--sql", "SELECT CAST(title AS INTEGER) FROM outcomes", "-o", "{out}/x.csv"], "Conversion"),
    (["--sql", "SELECT CAST(title AS INTEGER) FROM outcomes", "-o", "{out}/x.xlsx"], "Conversion"),
    (["--sql", "SELECT CAST(title AS INTEGER) FROM outcomes", "-o", "{out}/x.parquet"], "Conver"),
]


class TestBadInput:
    @pytest.mark.parametrize(("args", "named"), BAD_INPUT)
    def test_names_the_problem_and_writes_nothing(
        self,
        args: list[str],
        named: str,
        data_dir: Path,
        out: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """One error line naming what is wrong, exit 1, and no file (nor temporary) left."""
        (out / "dir").mkdir()
        (out / "file.txt").write_text("not a directory", encoding="utf-8")
        before = sorted(out.iterdir())
        code, stdout, err = export(capsys, *[a.format(out=out) for a in args])
        assert code == 1
        assert stdout == ""
        assert err.count("\n") == 1
        assert err.startswith("hsl: error: ")
        assert named in err
        assert sorted(out.iterdir()) == before
        assert list((out / "dir").iterdir()) == []

    @pytest.mark.parametrize("suffix", ["csv", "parquet", "xlsx"])
    def test_a_failed_export_keeps_the_old_file(
        self, suffix: str, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A query failing half-way leaves the file that was there, and no temporary."""
        path = out / f"kept.{suffix}"
        path.write_bytes(b"the previous export")
        code, _, err = export(
            capsys, "--sql", "SELECT CAST(title AS INTEGER) FROM outcomes", "-o", str(path)
        )
        assert code == 1
        assert "query failed" in err
        assert path.read_bytes() == b"the previous export"
        assert list(out.iterdir()) == [path]

    def test_without_views_says_what_to_do(
        self, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:  # fmt: skip
        monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path / "empty"))
        code, _, err = export(capsys, "outcomes", "-o", str(out / "x.csv"))
        assert code == 1
        assert "hsl projections rebuild" in err
        assert list(out.iterdir()) == []

    def test_as_a_separate_process(self, views: Path, out: Path) -> None:
        """The installed ``hsl``, as a user runs it: one stderr line and exit 1, or the file."""
        env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "HSL_LOG_LEVEL"}}
        env["HSL_DATA_DIR"] = str(views)

        def hsl(*args: str) -> subprocess.CompletedProcess[str]:
            script = Path(sys.executable).with_name("hsl")
            return subprocess.run(
                [str(script), "export", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        result = hsl("nosuch", "-o", str(out / "x.csv"))
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("hsl: error: unknown table or view 'nosuch'")
        assert list(out.iterdir()) == []
        result = hsl("topics", "-o", str(out / "议题.xlsx"))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("exported ")
        assert [p.name for p in out.iterdir()] == ["议题.xlsx"]


# --- headers ---------------------------------------------------------------------------------


def relation_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall():
        found.setdefault(str(table), []).append(str(column))
    return found


class TestHeaders:
    def test_every_column_of_a_fresh_file_has_a_chinese_header(self, tmp_path: Path) -> None:
        """Each table and view the projection creates, each column: a Chinese header."""
        with duckdb.connect(str(tmp_path / "fresh.duckdb")) as con:
            create_schema(con)
            relations = relation_columns(con)
        assert {"outcomes", "outcome_status", "tracking"} <= set(relations)
        missing = [
            f"{table}.{column}"
            for table, columns in relations.items()
            for column in columns
            if not CJK.search(COLUMN_HEADERS.get(table, {}).get(column, ""))
        ]
        assert missing == []
        stale = [
            f"{table}.{column}"
            for table, columns in COLUMN_HEADERS.items()
            for column in columns
            if column not in relations.get(table, [])
        ]
        assert stale == []

    def test_headers_are_unique_within_a_relation(self) -> None:
        for table, columns in COLUMN_HEADERS.items():
            headers = list(columns.values())
            assert len(headers) == len(set(headers)), table

    def test_the_built_views_match_too(self, views: Path) -> None:
        with duckdb.connect(str(views / "projections.duckdb"), read_only=True) as con:
            relations = relation_columns(con)
        for table, columns in relations.items():
            assert set(columns) <= set(COLUMN_HEADERS[table]), table

    def test_query_columns(self) -> None:
        """By name alone: unambiguous names, shared wording, or the name itself."""
        assert header_for("outcome_id") == "成果编号"
        assert header_for("status") == SHARED_HEADERS["status"]
        assert header_for("status", "topics") == "议题状态"
        assert header_for("n") == "n"
        assert headers_for(["status", "status"], "topics") == [
            "议题状态（status）",
            "议题状态（status）",
        ]
        assert headers_for(["stage", "所处环节"]) == ["所处环节（stage）", "所处环节"]
