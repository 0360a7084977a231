"""The consultation outcome (协商成果) and its closed loop: 采纳、落实、反馈 (§四.6)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Literal
from uuid import UUID

from events.common import BaseEvent, Person
from events.outcome import (
    AdoptedAs,
    DissentExplained,
    EscalatedViaCppcc,
    EscalationCategory,
    EscalationLevel,
    FeedbackChannel,
    FeedbackDelivered,
    ImplementationAssigned,
    ImplementationCompleted,
    ImplementationStalled,
    ImplementationVerified,
    ObjectionReceived,
    OutcomeAdopted,
    OutcomeClosed,
    OutcomeDrafted,
    OutcomeKind,
    OutcomeNotAdopted,
    OutcomeReported,
    ProgressReported,
    PublicityChannel,
    PublicityNoticePublished,
    Recipient,
    ReconsultationOpened,
)
from service.domain.base import Act, HslAggregate
from service.domain.errors import (
    CauseAnalysisRequired,
    DissentExplanationRequired,
    ProcedureOrderViolation,
    PublicityAndSupervisionRequired,
    ValidationError,
)

OutcomeStatus = Literal["drafted", "reported", "adopted", "not_adopted", "closed"]
Implementation = Literal["none", "assigned", "in_progress", "completed", "verified", "stalled"]

_STATUS_ZH: dict[OutcomeStatus, str] = {
    "drafted": "尚未报送",
    "reported": "已报送、待采纳",
    "adopted": "已采纳",
    "not_adopted": "未采纳",
    "closed": "已办结",
}


class Outcome(HslAggregate):
    """An opinion or suggestion from a held consultation, followed until it is closed."""

    family = "outcome"

    def _init_state(self) -> None:
        self.consultation_id = UUID(int=0)
        self.topic_id = UUID(int=0)
        self.room_id = UUID(int=0)
        self.kind: OutcomeKind = "opinion"
        self.title = ""
        self.status: OutcomeStatus = "drafted"
        self.adopted_as: AdoptedAs | None = None
        self.needs_implementation = False
        self.publicised = False
        self.objections = 0
        self.implementation: Implementation = "none"
        self.deadline: date | None = None
        self.unit_id: str | None = None
        """The responsible unit charged with implementing it (who may report progress)."""
        self.progress = 0
        self.stall_causes: list[str] = []
        self.reconsultation_topic_ids: list[UUID] = []
        self.feedback_count = 0
        self.explained_dissent_ids: set[UUID] = set()
        self.escalations = 0

    @classmethod
    def draft(
        cls,
        act: Act,
        *,
        consultation_id: UUID,
        topic_id: UUID,
        room_id: UUID,
        kind: OutcomeKind,
        title: str,
        text: str,
    ) -> Outcome:
        """Draw up an opinion or suggestion; the application first checks the activity
        was held (rule 4)."""
        return cls._start(
            OutcomeDrafted,
            act,
            consultation_id=consultation_id,
            topic_id=topic_id,
            room_id=room_id,
            kind=kind,
            title=title,
            text=text,
        )

    def _require_status(self, *allowed: OutcomeStatus, doing: str, doing_en: str) -> None:
        # Rule 4 (§四.2, §四.6): 报送协商成果 → 采纳 → 落实 → 反馈, and nothing after closing.
        if self.status not in allowed:
            raise ProcedureOrderViolation(
                f"协商成果“{self.title}”{_STATUS_ZH[self.status]}，不能{doing}",
                f"the outcome is {self.status}; cannot {doing_en}",
            )

    def report(self, act: Act, *, recipients: Sequence[Recipient]) -> None:
        """Send to the same-level party committee and/or government (报送, §四.2)."""
        self._require_status("drafted", doing="再次报送", doing_en="report it again")
        if len(set(recipients)) != len(recipients):
            raise ValidationError("recipients", "报送对象重复", "a recipient appears twice")
        self._emit(OutcomeReported, act, recipients=list(recipients))

    def adopt(
        self,
        act: Act,
        *,
        adopted_as: AdoptedAs,
        decided_by: str,
        needs_implementation: bool | None = None,
    ) -> None:
        """Rule 4 (§四.2): adopt only a reported outcome; by default all but a consensus
        need doing (§四.6: 协商一致、需要落实的事项)."""
        self._require_status("reported", doing="采纳", doing_en="adopt it")
        if needs_implementation is None:
            needs_implementation = adopted_as != "consensus"
        self._emit(
            OutcomeAdopted,
            act,
            adopted_as=adopted_as,
            decided_by=decided_by,
            needs_implementation=needs_implementation,
        )

    def decline(self, act: Act, *, decided_by: str, reason: str) -> None:
        """Record that the reported outcome was not adopted, and why."""
        self._require_status("reported", doing="作出不采纳决定", doing_en="decline it")
        self._emit(OutcomeNotAdopted, act, decided_by=decided_by, reason=reason)

    def publish_publicity(
        self,
        act: Act,
        *,
        channel: PublicityChannel,
        starts_on: date,
        ends_on: date,
        notice_ref: str = "",
    ) -> None:
        """Publicise (公示) the adopted matter: rule 5's first step (§四.6)."""
        self._require_status("adopted", doing="公示", doing_en="publicise it")
        if ends_on < starts_on:
            raise ValidationError(
                "ends_on", "公示结束日期早于开始日期", "the publicity ends before it starts"
            )
        self._emit(
            PublicityNoticePublished,
            act,
            channel=channel,
            starts_on=starts_on,
            ends_on=ends_on,
            notice_ref=notice_ref,
        )

    def receive_objection(self, act: Act, *, objector_id: str, text: str) -> None:
        """Record an objection raised against the publicised matter (公示, rule 5, §四.6)."""
        self._require_status("adopted", doing="受理公示异议", doing_en="take objections")
        if not self.publicised:
            raise ProcedureOrderViolation(
                "尚未公示，无从受理公示异议", "there is no publicity to object to yet"
            )
        self._emit(ObjectionReceived, act, objector_id=objector_id, text=text)

    def assign_implementation(self, act: Act, *, unit: Person, deadline: date) -> None:
        """Charge a responsible unit: rule 4 (§四.2) after adoption, rule 5 (§四.6: 及时予以
        公示、组织实施) after publicity."""
        self._require_status(
            "adopted", doing="组织实施(须先采纳)", doing_en="implement before adoption"
        )
        if not self.needs_implementation:
            raise ProcedureOrderViolation(
                "该成果采纳时认定无需落实", "the adoption said this needs no implementation"
            )
        if not self.publicised:
            raise PublicityAndSupervisionRequired(
                "需要落实的事项尚未公示", "the matter has not been publicised"
            )
        if self.implementation in ("completed", "verified"):
            raise ProcedureOrderViolation("落实已完成", "the implementation is already complete")
        if deadline < act.occurred_at.date():
            raise ValidationError("deadline", "完成时限早于交办日期", "the deadline has passed")
        self._emit(ImplementationAssigned, act, unit=unit, deadline=deadline)

    def _require_implementation(self, *allowed: Implementation, doing: str, doing_en: str) -> None:
        # Rules 4 and 5 (§四.2, §四.6): 组织实施 → 跟踪 → 完成 → 监督核验, in that order.
        self._require_status("adopted", doing=doing, doing_en=doing_en)
        if self.implementation not in allowed:
            raise ProcedureOrderViolation(
                f"落实状态为 {self.implementation}，不能{doing}",
                f"implementation is {self.implementation}; cannot {doing_en}",
            )

    def report_progress(self, act: Act, *, percent: int, note: str = "") -> None:
        """Track the implementation (跟踪); reporting progress resumes a stalled one."""
        self._require_implementation(
            "assigned", "in_progress", "stalled", doing="报告进展", doing_en="report progress"
        )
        self._emit(ProgressReported, act, percent=percent, note=note)

    def complete_implementation(self, act: Act, *, summary: str) -> None:
        """The responsible unit reports the matter done; supervision verifies it next."""
        self._require_implementation(
            "assigned", "in_progress", "stalled", doing="报告完成", doing_en="complete it"
        )
        self._emit(ImplementationCompleted, act, summary=summary)

    def verify_implementation(self, act: Act, *, effective: bool, note: str = "") -> None:
        """Supervision checks the result (监督落实成效); not effective reopens the work."""
        self._require_implementation(
            "completed", doing="核验(尚未报告完成)", doing_en="verify before completion"
        )
        self._emit(ImplementationVerified, act, effective=effective, note=note)

    def record_stall(self, act: Act, *, cause: str) -> None:
        """Rule 6 (§四.6: 落实不到位的，及时分析原因): record the analysed cause."""
        self._require_implementation(
            "assigned", "in_progress", doing="登记落实不到位", doing_en="record a stall"
        )
        if not cause.strip():
            raise CauseAnalysisRequired("未填写落实不到位的原因", "no cause was given")
        self._emit(ImplementationStalled, act, cause=cause)

    def open_reconsultation(self, act: Act, *, new_topic_id: UUID) -> None:
        """Rule 6 (§四.6): consult again (再协商) on a stalled matter whose cause was analysed."""
        self._require_status("adopted", doing="再协商", doing_en="re-consult")
        if self.implementation != "stalled":
            raise CauseAnalysisRequired(
                "再协商针对落实不到位且已分析原因的事项，本事项未登记",
                "re-consultation follows a recorded stall with its cause",
            )
        self._emit(ReconsultationOpened, act, new_topic_id=new_topic_id)

    def deliver_feedback(self, act: Act, *, channel: FeedbackChannel, summary: str) -> None:
        """Tell residents what became of the outcome (成果运用反馈), after the decision."""
        self._require_status(
            "adopted", "not_adopted", doing="反馈(尚未作出采纳决定)", doing_en="give feedback"
        )
        self._emit(FeedbackDelivered, act, channel=channel, summary=summary)

    def explain_dissent(
        self,
        act: Act,
        *,
        dissent_id: UUID,
        explanation: str,
        known_dissent_ids: Collection[UUID],
    ) -> None:
        """Rule 7 (§四.6: 持不同意见的群众…做好解释说明): answer one recorded dissent."""
        self._require_status(
            "drafted", "reported", "adopted", "not_adopted", doing="解释说明", doing_en="explain"
        )
        if dissent_id not in known_dissent_ids:
            raise ValidationError(
                "dissent_id", "协商活动中无此不同意见记录", "no such dissent in the consultation"
            )
        if dissent_id in self.explained_dissent_ids:
            raise ValidationError("dissent_id", "已做过解释说明", "already explained")
        self._emit(DissentExplained, act, dissent_id=dissent_id, explanation=explanation)

    def escalate(
        self,
        act: Act,
        *,
        category: EscalationCategory,
        to_level: EscalationLevel,
        summary: str,
    ) -> None:
        """Raise the matter upward through the CPPCC channel (§四.6)."""
        self._require_status(
            "reported", "adopted", "not_adopted", doing="通过政协渠道反映", doing_en="escalate"
        )
        self._emit(EscalatedViaCppcc, act, category=category, to_level=to_level, summary=summary)

    def close(self, act: Act, *, summary: str, dissent_ids: Collection[UUID]) -> None:
        """Close the loop (§四.6: 采纳、落实、反馈): decided and fed back (rule 4, §四.2),
        publicised and supervised (rule 5, §四.6), a shortfall analysed (rule 6, §四.6),
        and every dissent explained (rule 7, §四.6)."""
        self._require_status("adopted", "not_adopted", doing="办结", doing_en="close it")
        if self.feedback_count == 0:
            raise ProcedureOrderViolation(
                "尚未向群众反馈，不能办结", "no closing before feedback is delivered"
            )
        if self.status == "adopted" and self.needs_implementation:
            self._check_implementation_closed()
        unexplained = set(dissent_ids) - self.explained_dissent_ids
        if unexplained:
            raise DissentExplanationRequired(
                f"尚有 {len(unexplained)} 条不同意见未做解释说明",
                f"{len(unexplained)} dissent(s) not yet explained",
            )
        self._emit(OutcomeClosed, act, summary=summary)

    def _check_implementation_closed(self) -> None:
        # Rule 5 (§四.6: 及时予以公示、组织实施，并跟踪监督落实成效) and rule 6 (§四.6:
        # 落实不到位的，及时分析原因): a matter to implement closes verified or with its cause.
        if not self.publicised:
            raise PublicityAndSupervisionRequired(
                "需要落实的事项未经公示", "the matter was never publicised"
            )
        if self.implementation == "none":
            raise PublicityAndSupervisionRequired(
                "需要落实的事项尚未交办责任单位", "no unit was charged with implementing it"
            )
        if self.implementation in ("assigned", "in_progress"):
            raise CauseAnalysisRequired(
                "事项尚未落实完成", "the implementation is unfinished and no cause is recorded"
            )
        if self.implementation == "completed":
            raise PublicityAndSupervisionRequired(
                "落实成效尚未经监督核验", "the completed implementation was not verified"
            )

    def apply_event(self, payload: BaseEvent) -> None:  # noqa: PLR0912 - one case per event
        """Evolve the outcome by one of its events."""
        match payload:
            case OutcomeDrafted():
                self.consultation_id = payload.consultation_id
                self.topic_id = payload.topic_id
                self.room_id = payload.room_id
                self.kind = payload.kind
                self.title = payload.title
            case OutcomeReported():
                self.status = "reported"
            case OutcomeAdopted():
                self.status = "adopted"
                self.adopted_as = payload.adopted_as
                self.needs_implementation = payload.needs_implementation
            case OutcomeNotAdopted():
                self.status = "not_adopted"
            case PublicityNoticePublished():
                self.publicised = True
            case ObjectionReceived():
                self.objections += 1
            case ImplementationAssigned():
                self.implementation = "assigned"
                self.deadline = payload.deadline
                self.unit_id = payload.unit.id
            case ProgressReported():
                self.implementation = "in_progress"
                self.progress = payload.percent
            case ImplementationCompleted():
                self.implementation = "completed"
            case ImplementationVerified():
                self.implementation = "verified" if payload.effective else "in_progress"
            case ImplementationStalled():
                self.implementation = "stalled"
                self.stall_causes.append(payload.cause)
            case ReconsultationOpened():
                self.reconsultation_topic_ids.append(payload.new_topic_id)
            case FeedbackDelivered():
                self.feedback_count += 1
            case DissentExplained():
                self.explained_dissent_ids.add(payload.dissent_id)
            case EscalatedViaCppcc():
                self.escalations += 1
            case OutcomeClosed():
                self.status = "closed"
            case _:  # pragma: no cover - the mapper only hands outcome events here
                raise TypeError(payload)
