"""Every file an ``hsl`` command writes is its owner's alone, and so is the data directory."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from service.cli.main import main
from service.data_dir import owner_only, protect
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import Scenario, full_lifecycle


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def scenario(nats_url: str) -> Iterator[Scenario]:
    s = JetStreamScenario(nats_url)
    try:
        full_lifecycle(s)
        yield s
    finally:
        s.app.close()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022) around the test, whatever the runner's: files come out 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("scenario", "open_umask")
def test_the_views_rebuild_outputs_and_exports_are_owner_only(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "fresh-data"
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HSL_DATA_DIR", str(data_dir))

    assert main(["projections", "rebuild"]) == 0
    assert main(["replay", "--as-of", "2099-01-01"]) == 0
    elsewhere = tmp_path / "handed-over"
    elsewhere.mkdir()
    as_of = elsewhere / "as-of.duckdb"
    assert main(["replay", "--as-of", "2099-01-01", "--output", str(as_of)]) == 0
    export = elsewhere / "outcomes.csv"
    assert main(["export", "outcomes", "--output", str(export)]) == 0

    assert _mode(data_dir) == 0o700
    views = data_dir / "projections.duckdb"
    assert _mode(views) == 0o600
    assert _mode(data_dir / "views-as-of-2099-01-01.duckdb") == 0o600
    assert _mode(as_of) == 0o600
    assert _mode(export) == 0o600
    assert os.umask(0o022) == 0o022  # main gave the umask back
    with duckdb.connect(str(views), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM outcomes").fetchone() != (0,)


@pytest.mark.usefixtures("open_umask")
def test_duckdbs_write_ahead_log_is_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "wal-data"
    with owner_only(data_dir):
        data_dir.mkdir()
        con = duckdb.connect(str(data_dir / "projections.duckdb"))
        try:
            con.execute("CREATE TABLE people (name TEXT)")
            con.execute("INSERT INTO people VALUES ('张三')")
            wal = data_dir / "projections.duckdb.wal"
            assert wal.exists()
            assert _mode(wal) == 0o600
        finally:
            con.close()
        assert _mode(data_dir / "projections.duckdb") == 0o600
        assert _mode(data_dir) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_an_older_data_directory_is_closed_up_at_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "older-data"
    (data_dir / "nats").mkdir(parents=True)
    views = data_dir / "projections.duckdb"
    duckdb.connect(str(views)).close()
    deeper = data_dir / "nats" / "server.json"
    deeper.write_text("{}")
    script = data_dir / "backup.sh"  # the owner's, not hsl's
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    data_dir.chmod(0o755)
    assert _mode(views) == 0o644

    monkeypatch.setenv("HSL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:9")  # never reached: `log stop` refuses
    assert main(["log", "stop"]) == 1

    assert _mode(data_dir) == 0o700
    assert _mode(views) == 0o600
    assert _mode(data_dir / "nats") == 0o700
    assert _mode(script) == 0o755  # not hsl's: left as it is, behind a 0700 directory
    assert _mode(deeper) == 0o644  # behind a 0700 directory: left as it is


@pytest.mark.usefixtures("open_umask")
def test_a_directory_holding_nothing_of_hsls_is_not_touched(tmp_path: Path) -> None:
    home = tmp_path / "someones-home"
    home.mkdir()
    home.chmod(0o755)
    notes = home / "notes.txt"
    notes.write_text("mine")
    protect(home)
    assert (_mode(home), _mode(notes)) == (0o755, 0o644)


def test_a_missing_data_directory_is_left_to_be_made(tmp_path: Path) -> None:
    protect(tmp_path / "not-yet")
    assert not (tmp_path / "not-yet").exists()
