"""The property test's oracle catches what it must: a forged log breaking each rule fails it.

``test_properties`` trusts ``ProcedureOracle`` to notice a forbidden order. Here each rule's
forbidden order is written straight into the recorder, around the aggregates (as a buggy
command or a tampered store would), and the oracle must refuse the log, naming the rule.
A log the application wrote itself passes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from events.codec import encode, tag_of
from events.common import Actor, BaseEvent, Person
from events.consultation import (
    ConsultationHeld,
    ParticipantsConfirmed,
    ResearchGroupFormed,
    consultation_id_for,
)
from events.outcome import (
    ImplementationAssigned,
    OutcomeAdopted,
    OutcomeClosed,
    ReconsultationOpened,
)
from events.topic import TopicProposed
from service.domain.base import Act, build_event
from tests.support.procedure import ProcedureOracle
from tests.support.scenario import (
    CLERK,
    CONVENER,
    OFFICIAL,
    PARTY,
    Scenario,
    full_lifecycle,
    stored,
)


def forge(s: Scenario, aggregate_id: UUID, event_cls: type[BaseEvent], **fields: Any) -> None:
    """Append an event to ``aggregate_id`` in the store directly, skipping every check."""
    rows = [row for row in stored(s.app) if row[1] == str(aggregate_id)]
    now = s.at()
    actor: Actor = fields.pop("actor", CLERK)
    payload = build_event(event_cls, Act(actor=actor, occurred_at=now, recorded_at=now), fields)
    s.app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=aggregate_id,
                originator_version=len(rows) + 1,
                topic=tag_of(payload),
                state=encode(payload),
            )
        ]
    )


def rule_1(s: Scenario) -> None:
    """A research group on a topic still awaiting approval."""
    topic = s.proposed_topic()
    room = s.app.get_topic(topic).room_id
    forge(
        s,
        consultation_id_for(topic),
        ResearchGroupFormed,
        topic_id=topic,
        room_id=room,
        room_level="town",
        members=[Person(id="m", name="组长")],
        lead_id="m",
    )


def rule_2(s: Scenario) -> None:
    """An activity held on an approved topic never filed."""
    consultation = s.scheduled(s.approved_topic(filed=False))
    c = s.app.get_consultation(consultation)
    forge(
        s,
        consultation,
        ConsultationHeld,
        room_id=c.room_id,
        room_level=c.room_level,
        form="meeting",
        venue="room",
        attendee_ids=["resident-0"],
    )


def rule_3(s: Scenario) -> None:
    """Residents under two-thirds, with no justification."""
    consultation = s.research()
    people = [
        {"id": "r", "name": "群众", "role": "resident_rep"},
        {"id": "o", "name": "干部", "role": "official"},
    ]
    forge(
        s,
        consultation,
        ParticipantsConfirmed,
        participants=people,
        resident_count=1,
        participant_count=2,
        quota_met=False,
    )


def rule_4(s: Scenario) -> None:
    """An outcome adopted before it was reported."""
    outcome = s.drafted()
    forge(
        s,
        outcome,
        OutcomeAdopted,
        actor=PARTY,
        adopted_as="decision",
        decided_by="镇党委",
        needs_implementation=True,
    )


def rule_5(s: Scenario) -> None:
    """A unit charged with an adopted matter never publicised."""
    outcome = s.adopted()
    forge(
        s,
        outcome,
        ImplementationAssigned,
        actor=OFFICIAL,
        unit=Person(id="unit-1", name="镇建设局"),
        deadline=date(2024, 12, 31),
    )


def rule_6(s: Scenario) -> None:
    """A re-consultation on a matter whose implementation never stalled."""
    outcome = s.assigned()
    forge(s, outcome, ReconsultationOpened, actor=CONVENER, new_topic_id=uuid4())


def rule_7(s: Scenario) -> None:
    """An outcome closed while a dissent of its consultation is unexplained."""
    consultation = s.held()
    s.app.record_dissent(
        consultation, actor=CLERK, occurred_at=s.at(), person_ids=["r-1"], position="反对"
    )
    outcome = s.reported(consultation)
    s.app.decline_outcome(
        outcome, actor=PARTY, occurred_at=s.at(), decided_by="镇政府", reason="资金不足"
    )
    s.fed_back(outcome)
    forge(s, outcome, OutcomeClosed)


def rule_8(s: Scenario) -> None:
    """A topic in a village room with no linked county-level member."""
    room = s.village_room(with_county_member=False)
    forge(
        s,
        uuid4(),
        TopicProposed,
        room_id=room,
        room_level="village",
        title="村道硬化",
        source="residents",
    )


FORGERIES: dict[str, Callable[[Scenario], None]] = {
    "rule 1": rule_1,
    "rule 2": rule_2,
    "rule 3": rule_3,
    "rule 4": rule_4,
    "rule 5": rule_5,
    "rule 6": rule_6,
    "rule 7": rule_7,
    "rule 8": rule_8,
}


@pytest.mark.parametrize("rule", sorted(FORGERIES))
def test_a_forged_log_breaking_the_rule_is_caught(rule: str, s: Scenario) -> None:
    """Up to the forged event the log is the application's own, and passes; with it, fails."""
    FORGERIES[rule](s)
    rows = stored(s.app)
    ProcedureOracle().check(rows[:-1])
    with pytest.raises(AssertionError, match=rule):
        ProcedureOracle().check(rows)


def test_the_applications_own_log_passes(s: Scenario) -> None:
    """Every command once, in order: nothing for the oracle to object to."""
    full_lifecycle(s)
    ProcedureOracle().check(stored(s.app))
