"""Against a real nats-server: live following equals a rebuild; the commands on the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from projections.rebuild import snapshot
from projections.runner import Projector
from service.cli.main import main
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import Scenario, full_lifecycle


@pytest.fixture
def scenario(nats_url: str) -> Iterator[Scenario]:
    s = JetStreamScenario(nats_url)
    try:
        yield s
    finally:
        s.app.close()


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


class TestLiveFollow:
    def test_live_followed_views_equal_a_fresh_rebuild(
        self, scenario: Scenario, tmp_path: Path
    ) -> None:
        """Events applied as they arrive give the same tables as a rebuild from zero."""
        scenario.town_room()  # something to catch up on before following
        con = duckdb.connect(str(tmp_path / "live.duckdb"))
        projector = Projector(con, scenario.app.recorder, scenario.app.name)
        stop = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                projector.follow(stop, batch_size=4, idle=0.05)
            except BaseException as e:
                errors.append(e)

        follower = threading.Thread(target=run)
        follower.start()
        try:
            full_lifecycle(scenario)
            end = scenario.app.recorder.max_notification_id()
            wait_for(lambda: projector.position == end or errors)
        finally:
            stop.set()
            follower.join(timeout=10)
        assert not errors
        assert not follower.is_alive()
        live = snapshot(con)
        con.close()
        assert live == fresh_rebuild(scenario.app, tmp_path / "fresh.duckdb")


class TestCommands:
    @pytest.fixture
    def env(self, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        data_dir = tmp_path / "data"
        monkeypatch.setenv("NATS_URL", nats_url)
        monkeypatch.setenv("HSL_DATA_DIR", str(data_dir))
        return data_dir

    def test_rebuild_then_query(
        self, env: Path, scenario: Scenario, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`hsl projections rebuild` builds the file; `hsl query` answers in table, CSV, JSON."""
        scenario.verified()
        assert main(["projections", "rebuild"]) == 0
        err = capsys.readouterr().err
        assert "rebuilding [" in err
        assert "(100%)" in err
        assert main(["query", "SELECT stage, overdue FROM outcome_status"]) == 0
        assert capsys.readouterr().out.split() == [
            "stage",
            "overdue",
            "verified",
            "False",
            "(1",
            "row)",
        ]
        assert main(["query", "SELECT stage FROM outcomes", "--format", "csv"]) == 0
        assert capsys.readouterr().out.splitlines() == ["stage", "verified"]
        assert main(["query", "SELECT stage, deadline FROM outcomes", "--format", "json"]) == 0
        assert '"deadline": "2024-12-31"' in capsys.readouterr().out

    def test_query_refuses_writes(
        self, env: Path, scenario: Scenario, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A DELETE through `hsl query` fails with a clear error and changes nothing."""
        scenario.verified()
        assert main(["projections", "rebuild"]) == 0
        capsys.readouterr()
        assert main(["query", "DELETE FROM outcomes"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("hsl: error: query refused:")
        assert "read-only" in err
        assert rows(env / "projections.duckdb", "SELECT count(*) FROM outcomes") == [(1,)]
        written = env / "copied.csv"
        for statement, kind in [
            (f"COPY outcomes TO '{written}'", "COPY"),
            (f"EXPORT DATABASE '{env / 'exported'}'", "EXPORT"),
            (f"ATTACH '{env / 'other.duckdb'}'", "ATTACH"),
            ("SELECT 1; SELECT 2", "exactly one SELECT or EXPLAIN statement"),
        ]:
            assert main(["query", statement]) == 1
            assert kind in capsys.readouterr().err
        assert not written.exists()
        assert not (env / "exported").exists()

    def test_query_without_views_says_what_to_do(
        self, env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Before any rebuild, `hsl query` points at `hsl projections rebuild`."""
        assert main(["query", "SELECT 1"]) == 1
        assert "hsl projections rebuild" in capsys.readouterr().err
