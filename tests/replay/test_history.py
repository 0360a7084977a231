"""Auditors' timelines on a real JetStream log: ordered, linked, and read subject by subject."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest

from events.jetstream.recorders import JetStreamApplicationRecorder
from replay.as_of import AsOf, AsOfError, version_as_of
from replay.history import HistoryError, HistoryReader
from replay.views_as_of import build_views_as_of
from service.cli.main import main
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import SUPERVISOR


def _reader(s: JetStreamScenario) -> tuple[HistoryReader, list[str]]:
    """A reader whose recorder refuses whole-stream reads and notes every subject read."""
    recorder = s.app.recorder
    assert isinstance(recorder, JetStreamApplicationRecorder)
    read: list[str] = []
    stored_messages = recorder.stored_messages

    def noted(originator_id: UUID | str) -> Any:
        read.append(str(originator_id))
        return stored_messages(originator_id)

    def refused(*args: object, **kwargs: object) -> Any:
        raise AssertionError("a timeline must not read the whole stream")

    recorder.stored_messages = noted  # type: ignore[method-assign]
    recorder.select_notifications = refused  # type: ignore[method-assign]
    return HistoryReader(recorder), read


def test_outcome_timeline_links_topic_consultation_and_reconsultation(
    chain: tuple[JetStreamScenario, Chain],
) -> None:
    s, c = chain
    reader, read = _reader(s)
    timeline = reader.timeline("outcome", str(c.outcome))
    assert timeline.links["topic"] == [str(c.topic)]
    assert timeline.links["consultation"] == [str(c.consultation)]
    assert timeline.links["reconsultation_topics"] == [str(c.new_topic)]
    assert set(read) == {str(c.outcome), str(c.topic), str(c.consultation), str(c.new_topic)}
    seqs = [e.seq for e in timeline.entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    own = [e.event for e in timeline.entries if e.aggregate_id == str(c.outcome)]
    assert own == [
        "outcome.drafted",
        "outcome.reported",
        "outcome.adopted",
        "outcome.publicity_published",
        "outcome.implementation_assigned",
        "outcome.implementation_stalled",
        "outcome.reconsultation_opened",
        "outcome.escalated",
        "outcome.implementation_completed",
    ]
    families = {e.family for e in timeline.entries}
    assert families == {"outcome", "topic", "consultation"}
    new_topic_events = [e for e in timeline.entries if e.aggregate_id == str(c.new_topic)]
    assert new_topic_events[0].event == "topic.proposed"
    assert new_topic_events[0].fields["reconsultation_of"] == str(c.outcome)
    stall = next(e for e in timeline.entries if e.event == "outcome.implementation_stalled")
    assert (stall.actor_id, stall.actor_role) == (SUPERVISOR.id, SUPERVISOR.role)
    assert stall.fields == {"cause": "资金未到位"}


def test_reconsultation_topic_links_back_to_its_outcome(
    chain: tuple[JetStreamScenario, Chain],
) -> None:
    s, c = chain
    reader, _read = _reader(s)
    timeline = reader.timeline("topic", str(c.new_topic))
    assert timeline.links["reconsultation_of"] == [str(c.outcome)]
    assert timeline.links["room"] == [str(c.room)]
    assert [e.event for e in timeline.entries] == ["topic.proposed"]


def test_wrong_kind_unknown_and_malformed_ids_are_named(
    chain: tuple[JetStreamScenario, Chain],
) -> None:
    s, c = chain
    reader, _ = _reader(s)
    with pytest.raises(HistoryError, match=f"{c.topic} is a topic, not an outcome"):
        reader.timeline("outcome", str(c.topic))
    missing = UUID(int=7)
    with pytest.raises(HistoryError, match=f"no room with id {missing} in the log"):
        reader.timeline("room", str(missing))
    with pytest.raises(HistoryError, match="outcome id 'nope' is not a UUID"):
        reader.timeline("outcome", "nope")


def test_version_as_of_a_time_and_a_sequence(chain: tuple[JetStreamScenario, Chain]) -> None:
    s, c = chain
    reader, _ = _reader(s)
    timeline = reader.timeline("outcome", str(c.outcome))
    own = [e for e in timeline.entries if e.aggregate_id == str(c.outcome)]
    assert version_as_of(timeline.entries, str(c.outcome), AsOf(time=c.before_completion)) == 8
    assert version_as_of(timeline.entries, str(c.outcome), AsOf(sequence=own[2].seq)) == 3
    early = AsOf(time=own[0].recorded_at - timedelta(seconds=1))
    assert version_as_of(timeline.entries, str(c.outcome), early) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "neither a date"),
        ("2025-06-30T12:00:00", "no UTC offset"),
        ("0", "must be 1 or more"),
    ],
)
def test_bad_as_of_is_named(text: str, message: str) -> None:
    with pytest.raises(AsOfError, match=message):
        AsOf.parse(text)


def test_hsl_replay_prints_json_and_state_as_of(
    chain: tuple[JetStreamScenario, Chain],
    nats_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _s, c = chain
    monkeypatch.setenv("NATS_URL", nats_url)
    assert main(["replay", "outcome", str(c.outcome), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["links"]["reconsultation_topics"] == [str(c.new_topic)]
    assert document["entries"][-1]["event"] == "outcome.implementation_completed"

    as_of = c.before_completion.isoformat()
    assert main(["replay", "outcome", str(c.outcome), "--as-of", as_of, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["state"]["version"] == 8
    assert "outcome.implementation_completed" not in {e["event"] for e in document["entries"]}

    assert main(["replay", "outcome", str(c.outcome), "--version", "3"]) == 0
    table = capsys.readouterr().out
    assert "outcome.adopted" in table
    assert "outcome.implementation_assigned" not in table
    assert "state at version 3" in table


def test_hsl_replay_errors_are_one_line(
    chain: tuple[JetStreamScenario, Chain],
    nats_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s, c = chain
    monkeypatch.setenv("NATS_URL", nats_url)
    assert main(["replay", "outcome", str(c.outcome), "--version", "99"]) == 1
    assert "has versions 1 to 9, not 99" in capsys.readouterr().err
    assert main(["replay", "room", str(c.outcome)]) == 1
    assert f"{c.outcome} is an outcome, not a room" in capsys.readouterr().err
    before = s.clock.now - timedelta(days=400)
    assert main(["replay", "outcome", str(c.outcome), "--as-of", before.date().isoformat()]) == 1
    assert "did not exist yet" in capsys.readouterr().err


def _named(value: object, person: str) -> bool:
    """Whether ``person`` appears anywhere in an event's JSON (the independent oracle)."""
    if isinstance(value, dict):
        return any(_named(v, person) for v in value.values())
    if isinstance(value, list):
        return any(_named(v, person) for v in value)
    return value == person


@pytest.mark.parametrize("person", ["unit-1", SUPERVISOR.id, "resident-0"])
def test_person_timeline_holds_every_event_concerning_them(
    chain: tuple[JetStreamScenario, Chain],
    person: str,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    nats_url: str,
) -> None:
    s, _ = chain
    recorder = s.app.recorder
    assert isinstance(recorder, JetStreamApplicationRecorder)
    expected = [
        n.id
        for n in recorder.select_notifications(start=1, limit=10_000)
        if _named(json.loads(n.state), person)
    ]
    assert expected  # the chain does concern them
    views = tmp_path / "views.duckdb"
    build_views_as_of(recorder, s.app.name, views, AsOf(sequence=10**9), "now")
    with duckdb.connect(str(views), read_only=True) as con:
        acts = con.execute(
            "SELECT DISTINCT aggregate_id, seq FROM person_acts WHERE person_id = ? ORDER BY seq",
            [person],
        ).fetchall()
    reader, read = _reader(s)
    timeline = reader.person_timeline(person, [(str(a), int(q)) for a, q in acts])
    assert [e.seq for e in timeline.entries] == expected
    assert set(read) == {str(a) for a, _ in acts}

    monkeypatch.setenv("NATS_URL", nats_url)
    assert main(["replay", "person", person, "--db", str(views), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in document["entries"]] == expected
    assert main(["replay", "person", "nobody", "--db", str(views)]) == 1
    assert "no event in the views concerns person 'nobody'" in capsys.readouterr().err
