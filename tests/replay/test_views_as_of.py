"""The views as they stood at a past point, built from the log's prefix into their own file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from events.jetstream.recorders import JetStreamApplicationRecorder
from replay.as_of import AsOf
from replay.history import HistoryReader
from replay.views_as_of import build_views_as_of, resolve
from service.cli.main import main
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario


def _recorder(s: JetStreamScenario) -> JetStreamApplicationRecorder:
    recorder = s.app.recorder
    assert isinstance(recorder, JetStreamApplicationRecorder)
    return recorder


def test_a_time_resolves_to_the_last_event_recorded_by_then(
    chain: tuple[JetStreamScenario, Chain],
) -> None:
    s, c = chain
    entries = HistoryReader(_recorder(s)).timeline("outcome", str(c.outcome)).entries
    expected = max(e.seq for e in entries if e.recorded_at <= c.before_completion)
    point = resolve(_recorder(s), AsOf(time=c.before_completion))
    assert point.sequence == expected
    first = min(e.recorded_at for e in entries)
    assert resolve(_recorder(s), AsOf(time=first - timedelta(days=1))).sequence == 0
    last = _recorder(s).max_notification_id()
    assert resolve(_recorder(s), AsOf(sequence=10_000)).sequence == last


def test_views_as_of_show_the_outcome_before_completion(
    chain: tuple[JetStreamScenario, Chain], tmp_path: Path
) -> None:
    s, c = chain
    target = tmp_path / "then.duckdb"
    point = build_views_as_of(
        _recorder(s), s.app.name, target, AsOf(time=c.before_completion), "then"
    )
    with duckdb.connect(str(target), read_only=True) as con:
        row = con.execute(
            "SELECT stage, stalled, implemented_at, reconsultation_topic_id FROM outcomes "
            "WHERE outcome_id = ?",
            [str(c.outcome)],
        ).fetchone()
        assert row == ("implementing", True, None, str(c.new_topic))
        assert con.execute("SELECT requested, sequence FROM as_of").fetchone() == (
            "then",
            point.sequence,
        )
        assert con.execute("SELECT max(notification_id) FROM tracking").fetchone() == (
            point.sequence,
        )
    now = tmp_path / "now.duckdb"
    build_views_as_of(_recorder(s), s.app.name, now, AsOf(sequence=10_000), "now")
    with duckdb.connect(str(now), read_only=True) as con:
        stage = con.execute(
            "SELECT stage FROM outcomes WHERE outcome_id = ?", [str(c.outcome)]
        ).fetchone()
        assert stage == ("implemented",)


def test_hsl_replay_as_of_writes_its_own_file_and_leaves_the_views_alone(
    chain: tuple[JetStreamScenario, Chain],
    nats_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s, _c = chain
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path))
    day_before = (s.clock.now - timedelta(days=1)).date().isoformat()
    assert main(["replay", "--as-of", day_before]) == 0
    written = tmp_path / f"views-as-of-{day_before}.duckdb"
    assert str(written) in capsys.readouterr().out
    with duckdb.connect(str(written), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM outcomes").fetchone() == (0,)
    assert not (tmp_path / "projections.duckdb").exists()
    query = ["query", "--db", str(written), "--format", "json"]
    assert main([*query, "SELECT requested, sequence FROM as_of"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"requested": day_before, "sequence": 0}]
    assert main([*query, "DELETE FROM as_of"]) == 1
    assert "query refused" in capsys.readouterr().err
    assert main([*query[:2], str(tmp_path / "nowhere.duckdb"), "SELECT 1"]) == 1
    assert "no views at" in capsys.readouterr().err
    assert main(["replay", "--as-of", "soon"]) == 1
    assert "neither a date" in capsys.readouterr().err
    assert main(["replay"]) == 1
    assert "give KIND ID" in capsys.readouterr().err
