"""An independent oracle of the procedure: does a stored log respect the seed's order?

It reads only stored payloads (decoded with ``events.codec``), never the aggregates,
so the property test can check the aggregates against it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from uuid import UUID

from events.codec import decode
from events.common import LATE_ENTRY, BaseEvent
from events.consultation import (
    ConsultationHeld,
    DissentRecorded,
    MotionPut,
    MotionResolved,
    ParticipantsConfirmed,
    ResearchGroupFormed,
    VoteCast,
)
from events.outcome import (
    DissentExplained,
    OutcomeAdopted,
    OutcomeDrafted,
    ReconsultationOpened,
)
from events.room import MemberLinked, RoomEstablished
from events.topic import TopicApproved, TopicFiled, TopicProposed
from service.domain.rules import (
    FILING_BODY,
    FUTURE_TOLERANCE,
    needs_county_member,
    resident_quota_met,
)
from tests.support.scenario import StoredRow

CREATION = {
    "room.established",
    "topic.proposed",
    "consultation.research_group_formed",
    "outcome.drafted",
}


@dataclass
class _Topic:
    level: str
    status: str = "proposed"
    filed: bool = False


@dataclass
class _Consultation:
    topic_id: UUID
    stage: str = "research"
    findings: int = 0
    motions: dict[UUID, bool] = field(default_factory=dict)
    dissents: set[UUID] = field(default_factory=set)


@dataclass
class _Outcome:
    consultation_id: UUID
    status: str = "drafted"
    needs: bool = False
    publicised: bool = False
    impl: str = "none"
    feedback: int = 0
    explained: set[UUID] = field(default_factory=set)


class ProcedureOracle:
    """Replays a log and raises AssertionError at the first order the procedure forbids."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = defaultdict(int)
        self.room_levels: dict[UUID, str] = {}
        self.county_members: set[UUID] = set()
        self.topics: dict[UUID, _Topic] = {}
        self.consultations: dict[UUID, _Consultation] = {}
        self.outcomes: dict[UUID, _Outcome] = {}
        self.reconsultations: dict[UUID, UUID] = {}

    def check(self, rows: list[StoredRow]) -> None:
        for _, originator, version, tag, state in rows:
            event = decode(state)
            assert event.__struct_config__.tag == tag
            assert version == self.versions[originator] + 1, "versions are gap-free"
            self.versions[originator] = version
            assert (version == 1) == (tag in CREATION), f"{tag} at version {version}"
            self._times(event)
            family = tag.split(".")[0]
            getattr(self, f"_{family}")(UUID(originator), tag, event)
        for outcome_id, topic_id in self.reconsultations.items():
            assert topic_id in self.topics, "re-consultation topic stored with its outcome"
            assert outcome_id in self.outcomes

    @staticmethod
    def _times(event: BaseEvent) -> None:
        assert event.occurred_at <= event.recorded_at + FUTURE_TOLERANCE
        assert event.backdated == (event.recorded_at - event.occurred_at > LATE_ENTRY)

    def _room(self, room_id: UUID, tag: str, event: BaseEvent) -> None:
        if isinstance(event, RoomEstablished):
            self.room_levels[room_id] = event.level
        elif isinstance(event, MemberLinked) and event.member_level == "county":
            self.county_members.add(room_id)

    def _topic(self, topic_id: UUID, tag: str, event: BaseEvent) -> None:
        if isinstance(event, TopicProposed):
            level = self.room_levels[event.room_id]
            assert event.room_level == level
            if needs_county_member(event.room_level):
                assert event.room_id in self.county_members, "rule 8"
            self.topics[topic_id] = _Topic(level=level)
            if event.reconsultation_of is not None:
                assert self.reconsultations.get(event.reconsultation_of) == topic_id
            return
        topic = self.topics[topic_id]
        if tag == "topic.approval_escalated":
            assert topic.status == "proposed"
            assert topic.level != "town"
            topic.status = "escalated"
        elif isinstance(event, TopicApproved):
            assert topic.status in ("proposed", "escalated"), "rule 1"
            expected_role = "upper_party_org" if topic.status == "escalated" else "party_org"
            assert event.actor.role == expected_role, "rule 1"
            assert event.by_upper_level == (topic.status == "escalated")
            topic.status = "approved"
        elif tag == "topic.rejected":
            assert topic.status in ("proposed", "escalated")
            topic.status = "rejected"
        elif isinstance(event, TopicFiled):
            assert topic.status == "approved", "rule 2"
            assert not topic.filed
            assert event.filed_with == FILING_BODY[topic.level], "rule 2"  # type: ignore[index]
            topic.filed = True
        elif tag == "topic.withdrawn":
            assert topic.status in ("proposed", "escalated", "approved")
            assert not any(
                c.topic_id == topic_id and c.stage == "held" for c in self.consultations.values()
            )
            topic.status = "withdrawn"

    def _consultation(self, cid: UUID, tag: str, event: BaseEvent) -> None:
        if isinstance(event, ResearchGroupFormed):
            assert self.topics[event.topic_id].status == "approved", "rule 1"
            assert all(c.topic_id != event.topic_id for c in self.consultations.values())
            self.consultations[cid] = _Consultation(topic_id=event.topic_id)
            return
        c = self.consultations[cid]
        before_held = ("research", "participants_confirmed", "scheduled")
        if tag == "consultation.research_finding_recorded":
            assert c.stage in before_held
            c.findings += 1
        elif isinstance(event, ParticipantsConfirmed):
            assert c.stage in before_held
            assert c.findings > 0, "rule 4: research first"
            residents = sum(p.role == "resident_rep" for p in event.participants)
            assert event.resident_count == residents
            assert event.quota_met == resident_quota_met(residents, len(event.participants))
            assert event.quota_met or event.quota_justification.strip(), "rule 3"
            if c.stage == "research":
                c.stage = "participants_confirmed"
        elif tag == "consultation.scheduled":
            assert c.stage in ("participants_confirmed", "scheduled"), "rule 4"
            c.stage = "scheduled"
        elif isinstance(event, ConsultationHeld):
            assert c.stage == "scheduled", "rule 4"
            topic = self.topics[c.topic_id]
            assert topic.status == "approved", "rule 1"
            assert topic.filed, "rule 2"
            c.stage = "held"
        else:
            assert c.stage == "held", f"{tag} before the activity was held"
            if isinstance(event, MotionPut):
                c.motions[event.motion_id] = False
            elif isinstance(event, VoteCast):
                assert c.motions[event.motion_id] is False
            elif isinstance(event, MotionResolved):
                assert c.motions[event.motion_id] is False
                c.motions[event.motion_id] = True
            elif isinstance(event, DissentRecorded):
                c.dissents.add(event.dissent_id)

    def _outcome(self, oid: UUID, tag: str, event: BaseEvent) -> None:  # noqa: PLR0912
        if isinstance(event, OutcomeDrafted):
            assert self.consultations[event.consultation_id].stage == "held", "rule 4"
            self.outcomes[oid] = _Outcome(consultation_id=event.consultation_id)
            return
        o = self.outcomes[oid]
        assert o.status != "closed", f"{tag} after closing"
        decided = ("adopted", "not_adopted")
        if tag == "outcome.reported":
            assert o.status == "drafted"
            o.status = "reported"
        elif isinstance(event, OutcomeAdopted):
            assert o.status == "reported", "rule 4"
            o.status = "adopted"
            o.needs = event.needs_implementation
        elif tag == "outcome.not_adopted":
            assert o.status == "reported", "rule 4"
            o.status = "not_adopted"
        elif tag == "outcome.publicity_published":
            assert o.status == "adopted"
            o.publicised = True
        elif tag == "outcome.objection_received":
            assert o.publicised
        elif tag == "outcome.implementation_assigned":
            assert o.status == "adopted", "rule 4"
            assert o.needs
            assert o.publicised, "rule 5"
            assert o.impl not in ("completed", "verified")
            o.impl = "assigned"
        elif tag == "outcome.progress_reported":
            assert o.impl in ("assigned", "in_progress", "stalled"), "rule 4"
            o.impl = "in_progress"
        elif tag == "outcome.implementation_completed":
            assert o.impl in ("assigned", "in_progress", "stalled"), "rule 4"
            o.impl = "completed"
        elif tag == "outcome.implementation_verified":
            assert o.impl == "completed", "rule 5"
            o.impl = "verified" if event.effective else "in_progress"  # type: ignore[attr-defined]
        elif tag == "outcome.implementation_stalled":
            assert o.impl in ("assigned", "in_progress")
            assert event.cause.strip(), "rule 6"  # type: ignore[attr-defined]
            o.impl = "stalled"
        elif isinstance(event, ReconsultationOpened):
            assert o.impl == "stalled", "rule 6"
            self.reconsultations[oid] = event.new_topic_id
        elif tag == "outcome.feedback_delivered":
            assert o.status in decided
            o.feedback += 1
        elif isinstance(event, DissentExplained):
            assert event.dissent_id in self.consultations[o.consultation_id].dissents
            assert event.dissent_id not in o.explained
            o.explained.add(event.dissent_id)
        elif tag == "outcome.escalated":
            assert o.status in ("reported", *decided)
        elif tag == "outcome.closed":
            assert o.status in decided, "rule 4"
            assert o.feedback > 0, "rule 4: feedback before closing"
            if o.status == "adopted" and o.needs:
                assert o.publicised, "rule 5"
                assert o.impl in ("verified", "stalled"), "rules 5 and 6"
            assert self.consultations[o.consultation_id].dissents <= o.explained, "rule 7"
            o.status = "closed"
