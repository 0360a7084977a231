"""The consultation activity (协商活动): research, participants, the meeting and its record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from events.common import BaseEvent, Person, Role, RoomLevel
from events.consultation import (
    ConsensusReached,
    ConsultationForm,
    ConsultationHeld,
    ConsultationScheduled,
    DissentRecorded,
    MotionPut,
    MotionResolved,
    MotionResult,
    OpinionRecorded,
    Participant,
    ParticipantsConfirmed,
    ResearchFindingRecorded,
    ResearchGroupFormed,
    ResearchMethod,
    Stance,
    Tally,
    Venue,
    VoteCast,
    VoteChoice,
    consultation_id_for,
)
from service.domain.base import Act, HslAggregate
from service.domain.errors import (
    ProcedureOrderViolation,
    ResidentQuotaShortfall,
    ValidationError,
)
from service.domain.rules import motion_carried, resident_quota_met

Stage = Literal["research", "participants_confirmed", "scheduled", "held"]

_STAGE_ZH: dict[Stage, str] = {
    "research": "调研阶段",
    "participants_confirmed": "已确定协商人员",
    "scheduled": "已安排活动",
    "held": "活动已举办",
}


@dataclass
class Motion:
    """A motion's text, the votes on it so far, and its result once resolved."""

    text: str
    votes: dict[str, VoteChoice] = field(default_factory=dict)
    result: MotionResult | None = None


def _unique(ids: Sequence[str], field_name: str) -> None:
    seen: set[str] = set()
    for index, ident in enumerate(ids):
        if ident in seen:
            raise ValidationError(
                f"{field_name}[{index}]", f"{ident} 重复", f"{ident} appears twice"
            )
        seen.add(ident)


class Consultation(HslAggregate):
    """One consultation activity on one approved topic, in the order of §四.2."""

    family = "consultation"

    def _init_state(self) -> None:
        self.topic_id = UUID(int=0)
        self.room_id = UUID(int=0)
        self.room_level: RoomLevel = "town"
        self.stage: Stage = "research"
        self.research_members: list[str] = []
        self.findings = 0
        self.participants: list[Participant] = []
        self.quota_met = True
        self.form: ConsultationForm | None = None
        self.venue: Venue | None = None
        self.scheduled_for: datetime | None = None
        self.attendee_ids: list[str] = []
        self.opinions = 0
        self.motions: dict[UUID, Motion] = {}
        self.consensus: str | None = None
        self.dissents: dict[UUID, list[str]] = {}

    @classmethod
    def form_research_group(
        cls,
        act: Act,
        *,
        topic_id: UUID,
        room_id: UUID,
        room_level: RoomLevel,
        members: Sequence[Person],
        lead_id: str,
    ) -> Consultation:
        """Open the activity with its research group (§四.2); the topic's approval (rule 1)
        is checked by the application, which holds the topic."""
        _unique([m.id for m in members], "members")
        if lead_id not in {m.id for m in members}:
            raise ValidationError(
                "lead_id", "组长须为调研组成员", "the lead must be a member of the group"
            )
        return cls._start(
            ResearchGroupFormed,
            act,
            aggregate_id=consultation_id_for(topic_id),
            topic_id=topic_id,
            room_id=room_id,
            room_level=room_level,
            members=list(members),
            lead_id=lead_id,
        )

    def _require_stage(self, *allowed: Stage, doing: str, doing_en: str) -> None:
        # Rule 4 (§四.2): 开展协商调研 → 确定协商人员 → 举办协商活动, in that order.
        if self.stage not in allowed:
            raise ProcedureOrderViolation(
                f"协商活动{_STAGE_ZH[self.stage]}，不能{doing}",
                f"the consultation is at stage {self.stage}; cannot {doing_en}",
            )

    def record_finding(self, act: Act, *, method: ResearchMethod, summary: str) -> None:
        """Record what the research group found; research comes before the activity."""
        self._require_stage(
            "research",
            "participants_confirmed",
            "scheduled",
            doing="再记录协商前调研",
            doing_en="record pre-consultation research",
        )
        self._emit(ResearchFindingRecorded, act, method=method, summary=summary)

    def confirm_participants(
        self, act: Act, *, participants: Sequence[Participant], quota_justification: str = ""
    ) -> None:
        """Confirm who takes part (§四.2: after research); rule 3 (§四.4): residents are,
        in principle, at least two-thirds, so a shortfall needs a recorded justification."""
        self._require_stage(
            "research",
            "participants_confirmed",
            "scheduled",
            doing="再确定协商人员",
            doing_en="change the participants",
        )
        if self.findings == 0:
            raise ProcedureOrderViolation(
                "尚未记录协商调研情况，不能确定协商人员",
                "record the research before confirming participants",
            )
        _unique([p.id for p in participants], "participants")
        residents = sum(1 for p in participants if p.role == "resident_rep")
        total = len(participants)
        met = resident_quota_met(residents, total)
        if not met and not quota_justification.strip():
            raise ResidentQuotaShortfall(
                f"群众代表 {residents}/{total} < 2/3",
                f"resident representatives {residents}/{total} < 2/3",
            )
        self._emit(
            ParticipantsConfirmed,
            act,
            participants=list(participants),
            resident_count=residents,
            participant_count=total,
            quota_met=met,
            quota_justification=quota_justification,
        )

    def schedule(
        self,
        act: Act,
        *,
        form: ConsultationForm,
        venue: Venue,
        scheduled_for: datetime,
        host_id: str,
        venue_detail: str = "",
    ) -> None:
        """Fix form, venue, time and host (§四.5, §五.4); rescheduling is allowed."""
        self._require_stage(
            "participants_confirmed",
            "scheduled",
            doing="安排活动(须先确定协商人员)",
            doing_en="schedule (confirm participants first)",
        )
        self._emit(
            ConsultationScheduled,
            act,
            form=form,
            venue=venue,
            venue_detail=venue_detail,
            scheduled_for=scheduled_for,
            host_id=host_id,
        )

    def hold(
        self,
        act: Act,
        *,
        form: ConsultationForm,
        venue: Venue,
        attendee_ids: Sequence[str],
        venue_detail: str = "",
    ) -> None:
        """Record that the activity took place; attendees are confirmed participants."""
        self._require_stage(
            "scheduled", doing="举办(须先安排活动)", doing_en="hold it (schedule it first)"
        )
        _unique(list(attendee_ids), "attendee_ids")
        confirmed = {p.id for p in self.participants}
        for index, ident in enumerate(attendee_ids):
            if ident not in confirmed:
                raise ValidationError(
                    f"attendee_ids[{index}]",
                    f"{ident} 不在已确定的协商人员名单中",
                    f"{ident} is not a confirmed participant",
                )
        self._emit(
            ConsultationHeld,
            act,
            room_id=self.room_id,
            room_level=self.room_level,
            form=form,
            venue=venue,
            venue_detail=venue_detail,
            attendee_ids=list(attendee_ids),
        )

    def _require_held(self, doing: str, doing_en: str) -> None:
        self._require_stage("held", doing=doing, doing_en=doing_en)

    def record_opinion(
        self, act: Act, *, speaker_id: str, speaker_role: Role, stance: Stance, text: str
    ) -> None:
        """Record an opinion voiced at the activity."""
        self._require_held("记录协商意见(活动尚未举办)", "record opinions before it is held")
        self._emit(
            OpinionRecorded,
            act,
            speaker_id=speaker_id,
            speaker_role=speaker_role,
            stance=stance,
            text=text,
        )

    def put_motion(self, act: Act, *, text: str) -> UUID:
        """Put a motion to the participants; returns its id."""
        self._require_held("提出动议(活动尚未举办)", "put a motion before it is held")
        motion_id = act.new_id()
        self._emit(MotionPut, act, motion_id=motion_id, text=text)
        return motion_id

    def _open_motion(self, motion_id: UUID) -> Motion:
        # Rule 4 (§四.2) at the activity (§四.5, 四议两公开): a motion is voted on, then
        # resolved, once.
        motion = self.motions.get(motion_id)
        if motion is None:
            raise ValidationError("motion_id", f"无此动议 {motion_id}", f"no motion {motion_id}")
        if motion.result is not None:
            raise ProcedureOrderViolation(
                "该动议已表决完毕", "voting on this motion is already closed"
            )
        return motion

    def cast_vote(self, act: Act, *, motion_id: UUID, voter_id: str, choice: VoteChoice) -> None:
        """One vote per attendee on an open motion."""
        self._require_held("表决(活动尚未举办)", "vote before it is held")
        motion = self._open_motion(motion_id)
        if voter_id not in self.attendee_ids:
            raise ValidationError(
                "voter_id", f"{voter_id} 未出席本次活动", f"{voter_id} did not attend"
            )
        if voter_id in motion.votes:
            raise ValidationError(
                "voter_id", f"{voter_id} 已就该动议表决", f"{voter_id} has already voted"
            )
        self._emit(VoteCast, act, motion_id=motion_id, voter_id=voter_id, choice=choice)

    def resolve_motion(self, act: Act, *, motion_id: UUID) -> MotionResult:
        """Close voting; carried when more than half of those present voted for."""
        self._require_held("宣布表决结果(活动尚未举办)", "resolve before it is held")
        motion = self._open_motion(motion_id)
        choices = list(motion.votes.values())
        tally = Tally(
            votes_for=choices.count("for"),
            votes_against=choices.count("against"),
            abstentions=choices.count("abstain"),
            present=len(self.attendee_ids),
        )
        result: MotionResult = (
            "carried" if motion_carried(tally.votes_for, tally.present) else "defeated"
        )
        self._emit(MotionResolved, act, motion_id=motion_id, tally=tally, result=result)
        return result

    def reach_consensus(self, act: Act, *, summary: str) -> None:
        """Record the consensus (协商一致, §四.6) reached; once per activity (rule 4, §四.2)."""
        self._require_held("形成共识(活动尚未举办)", "reach consensus before it is held")
        if self.consensus is not None:
            raise ProcedureOrderViolation("本次活动已记录共识", "consensus is already recorded")
        self._emit(ConsensusReached, act, summary=summary)

    def record_dissent(self, act: Act, *, person_ids: Sequence[str], position: str) -> UUID:
        """Record residents who disagreed; rule 7 makes the outcome explain it to them."""
        self._require_held("记录不同意见(活动尚未举办)", "record dissent before it is held")
        _unique(list(person_ids), "person_ids")
        dissent_id = act.new_id()
        self._emit(
            DissentRecorded,
            act,
            dissent_id=dissent_id,
            person_ids=list(person_ids),
            position=position,
        )
        return dissent_id

    def require_held(self) -> None:
        """Rule 4 (§四.2): outcomes come only from a held activity."""
        if self.stage != "held":
            raise ProcedureOrderViolation(
                f"协商活动{_STAGE_ZH[self.stage]}，尚未举办，不能形成协商成果",
                "no outcome before the consultation is held",
            )

    def apply_event(self, payload: BaseEvent) -> None:  # noqa: PLR0912 - one case per event
        """Evolve the consultation by one of its events."""
        match payload:
            case ResearchGroupFormed():
                self.topic_id = payload.topic_id
                self.room_id = payload.room_id
                self.room_level = payload.room_level
                self.research_members = [m.id for m in payload.members]
            case ResearchFindingRecorded():
                self.findings += 1
            case ParticipantsConfirmed():
                self.participants = list(payload.participants)
                self.quota_met = payload.quota_met
                if self.stage == "research":
                    self.stage = "participants_confirmed"
            case ConsultationScheduled():
                self.stage = "scheduled"
                self.form = payload.form
                self.venue = payload.venue
                self.scheduled_for = payload.scheduled_for
            case ConsultationHeld():
                self.stage = "held"
                self.form = payload.form
                self.venue = payload.venue
                self.attendee_ids = list(payload.attendee_ids)
            case OpinionRecorded():
                self.opinions += 1
            case MotionPut():
                self.motions[payload.motion_id] = Motion(text=payload.text)
            case VoteCast():
                self.motions[payload.motion_id].votes[payload.voter_id] = payload.choice
            case MotionResolved():
                self.motions[payload.motion_id].result = payload.result
            case ConsensusReached():
                self.consensus = payload.summary
            case DissentRecorded():
                self.dissents[payload.dissent_id] = list(payload.person_ids)
            case _:  # pragma: no cover - the mapper only hands consultation events here
                raise TypeError(payload)
