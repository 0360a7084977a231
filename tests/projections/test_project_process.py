"""`hsl project` as a separate process: stops cleanly on SIGTERM; killed, it resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from projections.rebuild import ViewsBusyError, rebuild, snapshot
from projections.runner import Projector
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.paths import REPO_ROOT
from tests.support.rebuilt_views import fresh_rebuild
from tests.support.scenario import Scenario, full_lifecycle


def start_projector(data_dir: Path, nats_url: str) -> subprocess.Popen[str]:
    """`hsl project` in its own process; returns once it says where it projects.

    At debug level it logs one JSON line per applied batch on stderr (see ``applied_up_to``).
    """
    env = {k: v for k, v in os.environ.items() if k != "HSL_LOG_LEVEL"}
    env |= {"HSL_DATA_DIR": str(data_dir), "NATS_URL": nats_url, "HSL_LOG_LEVEL": "debug"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "project", "--batch", "3"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("projecting into"), first + (
        process.stderr.read() if process.stderr else ""
    )
    return process


@pytest.fixture
def scenario(nats_url: str) -> Iterator[Scenario]:
    s = JetStreamScenario(nats_url)
    try:
        yield s
    finally:
        s.app.close()


class TestProjectProcess:
    def test_sigterm_stops_cleanly_after_applying_everything(
        self, scenario: Scenario, nats_url: str, tmp_path: Path
    ) -> None:
        """SIGTERM ends `hsl project` with exit 0, its views equal to a fresh rebuild."""
        full_lifecycle(scenario)
        process = start_projector(tmp_path / "data", nats_url)
        try:
            scenario.verified()  # arrives while following
            end = scenario.app.recorder.max_notification_id()
            applied_up_to(process, end)  # the file is locked by the process: read its log
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, err
        assert f"stopped at event {end}" in out
        with duckdb.connect(str(tmp_path / "data" / "projections.duckdb"), read_only=True) as con:
            live = snapshot(con)
        assert live == fresh_rebuild(scenario.app, tmp_path / "fresh.duckdb")

    def test_killed_projector_resumes_to_a_fresh_rebuild(
        self, scenario: Scenario, nats_url: str, tmp_path: Path
    ) -> None:
        """SIGKILL while events arrive, then restart: equal to a rebuild, nothing twice."""
        process = start_projector(tmp_path / "data", nats_url)
        try:
            full_lifecycle(scenario)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=20)
        path = tmp_path / "data" / "projections.duckdb"
        with duckdb.connect(str(path)) as con:
            projector = Projector(con, scenario.app.recorder, scenario.app.name)
            projector.catch_up()
            assert projector.position == scenario.app.recorder.max_notification_id()
            live = snapshot(con)
        assert live == fresh_rebuild(scenario.app, tmp_path / "fresh.duckdb")

    def test_rebuild_refuses_to_swap_under_a_running_projector(
        self, scenario: Scenario, nats_url: str, tmp_path: Path
    ) -> None:
        """While `hsl project` holds the file, a rebuild fails and leaves no stray file."""
        scenario.town_room()
        process = start_projector(tmp_path / "data", nats_url)
        try:
            target = tmp_path / "data" / "projections.duckdb"
            with pytest.raises(ViewsBusyError, match="stop `hsl project` first"):
                rebuild(scenario.app.recorder, scenario.app.name, target)
            assert not [p for p in target.parent.iterdir() if ".rebuild-" in p.name]
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=20)
        assert process.returncode == 0


def applied_up_to(process: subprocess.Popen[str], sequence: int | None) -> None:
    """Read the projector's debug log until it reports a batch reaching ``sequence``."""
    assert process.stderr is not None
    assert sequence is not None
    for line in process.stderr:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "views updated" and entry.get("sequence", 0) >= sequence:
            return
    raise AssertionError("the projector ended before applying everything")
