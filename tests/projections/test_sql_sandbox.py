"""`hsl query` and `hsl export --sql` read the views and nothing else (projections.sql_sandbox).

Each way DuckDB's documentation names to reach outside the database (writing files, reading
them, extensions, ATTACH, secrets, URLs, SET to undo the lock) is tried three times: on the
sandboxed connection alone (DuckDB's fence must hold by itself), through `hsl query`, and
through `hsl export --sql`. Each is refused with a clear error, and the secrets of a data
directory beside the views (the signing key, the NATS users) are neither read nor changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import structlog

from projections.schema import create_schema
from projections.sql_sandbox import (
    EXPLAIN,
    SELECT,
    SandboxError,
    check_read_only,
    open_sandboxed,
)
from service.cli.main import main

SIGNER = "SIGNER-KEY-NEVER-SHOWN-5f1c"
USERS = '{"users": "NATS-USERS-NEVER-SHOWN-9a2e"}'


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory: empty views, and the secrets an attacker went for beside them."""
    root = tmp_path / "sandbox-data"
    (root / "audit").mkdir(parents=True)
    (root / "nats").mkdir()
    (root / "audit" / "signer.key").write_text(SIGNER)
    (root / "nats" / "users.json").write_text(USERS)
    (root / "secrets.csv").write_text(f"a,b\n{SIGNER},1\n")
    with duckdb.connect(str(root / "projections.duckdb")) as con:
        create_schema(con)
    with duckdb.connect(str(root / "other.duckdb")) as con:
        con.execute(f"CREATE TABLE leak AS SELECT '{SIGNER}' AS secret")
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("HSL_DATA_DIR", str(root))
    root_logger = logging.getLogger()
    handlers, level = root_logger.handlers[:], root_logger.level
    yield root
    root_logger.handlers, root_logger.level = handlers, level
    structlog.reset_defaults()


def bypasses(data: Path) -> list[str]:
    """Every way out that DuckDB documents, aimed at this data directory's secrets."""
    key, users = data / "audit" / "signer.key", data / "nats" / "users.json"
    return [
        f"EXPLAIN ANALYZE COPY (SELECT 'forged') TO '{users}' (FORMAT csv, HEADER false)",
        f"EXPLAIN (ANALYZE) COPY (SELECT 'forged') TO '{users}'",
        f"COPY (SELECT 'forged') TO '{users}'",
        f"COPY outcomes TO '{data / 'copied.csv'}'",
        f"EXPORT DATABASE '{data / 'exported'}'",
        f"ATTACH '{data / 'other.duckdb'}' AS other",
        f"ATTACH '{data / 'new.duckdb'}' AS new",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "CREATE PERSISTENT SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')",
        f"SELECT * FROM read_text('{key}')",
        f"SELECT * FROM read_blob('{key}')",
        f"SELECT * FROM read_csv('{data / 'secrets.csv'}')",
        f"SELECT * FROM read_json('{users}')",
        f"SELECT * FROM read_parquet('{key}')",
        f"SELECT * FROM sniff_csv('{data / 'secrets.csv'}')",
        f"SELECT * FROM glob('{data}/*/*')",
        f"SELECT * FROM '{data / 'secrets.csv'}'",
        f"SELECT * FROM '{data / 'other.duckdb'}'",
        f"SELECT * FROM read_duckdb('{data / 'other.duckdb'}')",
        f"SELECT * FROM read_csv_auto('{data / 'secrets.csv'}')",
        f"SELECT * FROM read_ndjson_objects('{users}')",
        f"SELECT * FROM read_text(['{key}', '{users}'])",
        f"SELECT * FROM parquet_metadata('{key}')",
        f"SELECT * FROM read_xlsx('{key}')",  # an extension: never loaded
        f"SELECT * FROM sqlite_scan('{key}', 't')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
        "SELECT * FROM 'https://127.0.0.1:9/x.parquet'",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SET allowed_directories = ['/']",
        "PRAGMA enable_profiling",
        f"SET profiling_output = '{users}'",
        "SET autoload_known_extensions = true",
    ]


def untouched(data: Path) -> None:
    assert (data / "audit" / "signer.key").read_text() == SIGNER
    assert (data / "nats" / "users.json").read_text() == USERS
    for made in ("copied.csv", "exported", "new.duckdb", "out.parquet", "out.csv"):
        assert not (data / made).exists(), made


class TestDuckDBFence:
    """The connection alone, without the statement check: DuckDB refuses every way out."""

    def test_every_bypass_is_refused_by_duckdb(self, data: Path) -> None:
        con = open_sandboxed(data / "projections.duckdb")
        try:
            for sql in bypasses(data):
                with pytest.raises(duckdb.Error) as refused:
                    con.execute(sql).fetchall()
                assert SIGNER not in str(refused.value), sql
            assert con.execute("SELECT count(*) FROM outcome_status").fetchall() == [(0,)]
            assert con.execute("SELECT current_setting('enable_external_access')").fetchall() == [
                (False,)
            ]
        finally:
            con.close()
        untouched(data)

    def test_python_variables_are_not_tables(self, data: Path) -> None:
        """DuckDB's Python client scans a DataFrame or Arrow table by its variable's name."""
        leak = pa.table({"secret": [SIGNER]})
        con = open_sandboxed(data / "projections.duckdb")
        try:
            with pytest.raises(duckdb.CatalogException):
                con.execute("SELECT * FROM leak").fetchall()
        finally:
            con.close()
        assert leak.num_rows == 1

    def test_only_the_writable_path_is_writable(self, data: Path) -> None:
        """A Parquet export's temporary file, and no other."""
        target = data / "out.parquet"
        con = open_sandboxed(data / "projections.duckdb", writable=[target])
        try:
            con.execute(f"COPY (SELECT 1 AS a) TO '{target}' (FORMAT parquet)")
            for sql in bypasses(data):
                with pytest.raises(duckdb.Error):
                    con.execute(sql).fetchall()
            assert con.execute(f"SELECT a FROM read_parquet('{target}')").fetchall() == [(1,)]
        finally:
            con.close()
        target.unlink()
        untouched(data)

    def test_reads_of_the_same_file_at_once(self, data: Path) -> None:
        """Two sandboxed reads in one process share DuckDB's instance: both open and read."""
        first = open_sandboxed(data / "projections.duckdb")
        second = open_sandboxed(data / "projections.duckdb")
        try:
            assert first.execute("SELECT count(*) FROM rooms").fetchall() == [(0,)]
            assert second.execute("SELECT count(*) FROM rooms").fetchall() == [(0,)]
        finally:
            first.close()
            second.close()


class TestStatementCheck:
    @pytest.fixture
    def con(self, data: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        con = open_sandboxed(data / "projections.duckdb")
        yield con
        con.close()

    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "FROM outcome_status",
            "DESCRIBE outcomes",
            "SUMMARIZE rooms",
            "EXPLAIN SELECT * FROM rooms",
            "EXPLAIN ANALYZE SELECT * FROM rooms",
            "/* why */ EXPLAIN -- plan\n ANALYZE SELECT 1",
            "EXPLAIN (ANALYZE, FORMAT json) SELECT 1",
            "EXPLAIN (SELECT 1)",
        ],
    )
    def test_reads_pass(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        check_read_only(con, sql, (SELECT, EXPLAIN))
        con.execute(sql).fetchall()

    @pytest.mark.parametrize(
        ("sql", "named"),
        [
            ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", "EXPLAIN of a SELECT, not of COPY"),
            ("EXPLAIN (ANALYZE) COPY (SELECT 1) TO 'x.csv'", "EXPLAIN of a SELECT, not of COPY"),
            ("EXPLAIN ANALYZE CREATE TABLE t (a INT)", "not of CREATE"),
            ("EXPLAIN ANALYZE INSERT INTO rooms SELECT * FROM rooms", "not of INSERT"),
            ("COPY rooms TO 'x.csv'", "not COPY"),
            ("SET threads = 1", "not SET"),
            ("SELECT 1; SELECT 2", "exactly one SELECT or EXPLAIN statement, not 2"),
            ("SELEC 1", "bad SQL"),
        ],
    )
    def test_the_rest_is_refused(
        self, con: duckdb.DuckDBPyConnection, sql: str, named: str
    ) -> None:
        with pytest.raises(SandboxError, match=named):
            check_read_only(con, sql, (SELECT, EXPLAIN))

    def test_export_takes_no_explain(self, con: duckdb.DuckDBPyConnection) -> None:
        with pytest.raises(SandboxError, match="so SELECT, not EXPLAIN"):
            check_read_only(con, "EXPLAIN SELECT 1", (SELECT,))


class TestCommands:
    def test_query_refuses_every_bypass(
        self, data: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for sql in bypasses(data):
            assert main(["query", sql]) == 1, sql
            out, err = capsys.readouterr()
            assert err.startswith("hsl: error: query refused:"), (sql, err)
            permission = "Permission Error" in err or "has been locked" in err
            assert not permission or "reads the views and nothing else" in err, err
            assert SIGNER not in out + err
            assert "NEVER-SHOWN" not in out + err
        untouched(data)

    def test_query_still_answers(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["query", "SELECT count(*) AS n FROM outcome_status", "--format", "csv"]) == 0
        assert capsys.readouterr().out.splitlines() == ["n", "0"]
        assert main(["query", "EXPLAIN ANALYZE SELECT * FROM rooms"]) == 0
        assert "analyzed_plan" in capsys.readouterr().out

    @pytest.mark.parametrize("suffix", ["csv", "parquet", "xlsx"])
    def test_export_refuses_every_bypass(
        self, data: Path, suffix: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        output = data / f"out.{suffix}"
        for sql in bypasses(data):
            assert main(["export", "--sql", sql, "-o", str(output)]) == 1, sql
            out, err = capsys.readouterr()
            assert err.startswith("hsl: error: "), (sql, err)
            assert "NEVER-SHOWN" not in out + err
            assert not output.exists(), sql
        assert sorted(p.name for p in data.iterdir() if p.name.startswith(".out")) == []
        untouched(data)

    def test_export_cannot_break_out_of_its_copy(
        self, data: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A Parquet export wraps the SELECT in COPY (…) TO: no SQL can close it early."""
        users = data / "nats" / "users.json"
        for sql in [
            f"SELECT 1) TO '{users}' (FORMAT csv); --",
            f"SELECT 1 /* ) TO '{users}' */",
            "SELECT 1 --",
        ]:
            code = main(["export", "--sql", sql, "-o", str(data / "out.parquet")])
            capsys.readouterr()
            if code == 0:
                (data / "out.parquet").unlink()
        untouched(data)

    def test_export_still_writes_parquet(
        self, data: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        output = data / "q.parquet"
        assert main(["export", "--sql", "SELECT 1 AS a", "-o", str(output)]) == 0
        capsys.readouterr()
        with duckdb.connect() as con:
            assert con.execute(f"SELECT a FROM '{output}'").fetchall() == [(1,)]
