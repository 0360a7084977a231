"""Typed refusals: each names the seed's rule and tells the clerk what to do.

``RuleViolation`` subclasses map to HTTP 409, ``ValidationError`` to 422 and
``NotFoundError`` to 404 (``status``). A refused command writes nothing.
"""

from __future__ import annotations

import re
from typing import ClassVar

import msgspec


class DomainError(Exception):
    """Base of every refusal by the domain."""

    status: ClassVar[int] = 400

    def __init__(self, message: str, message_en: str = "") -> None:
        self.message = message
        self.message_en = message_en
        super().__init__(f"{message} / {message_en}" if message_en else message)


class RuleViolation(DomainError):  # noqa: N818 - the name the project's API uses
    """A command would break one of the seed's numbered rules (docs/rules.md)."""

    status: ClassVar[int] = 409
    rule: ClassVar[str] = ""
    """Seed section(s), e.g. "§四.4"."""
    rule_number: ClassVar[int] = 0
    """The rule's number in the seed's list (docs/rules.md)."""
    remedy: ClassVar[str] = ""
    remedy_en: ClassVar[str] = ""

    def __init__(self, detail: str, detail_en: str = "") -> None:
        self.detail = detail
        self.detail_en = detail_en
        message = f"{detail} ({self.rule})：{self.remedy}"
        message_en = f"{detail_en} ({self.rule}): {self.remedy_en}" if detail_en else ""
        super().__init__(message, message_en)


class PartyApprovalRequired(RuleViolation):
    """Rule 1: no consultation activity on a topic its party organisation has not approved."""

    rule = "§二.1, §四.3"
    rule_number = 1
    remedy = "议题须经同级党组织审定(必要时报上一级党组织审批)后方可开展协商"
    remedy_en = "have the topic approved by its party organisation before consulting on it"


class TopicFilingViolation(RuleViolation):
    """Rule 2: town topics are filed with the county CPPCC, others with the town members' group."""

    rule = "§四.3"
    rule_number = 2
    remedy = (
        "审定后，镇(街道、园区)议题报县区政协备案，村(社区)、企事业单位议题报镇政协委员履职小组备案"
    )
    remedy_en = (
        "after approval, file town topics with the county CPPCC and other rooms' topics "
        "with the town members' group"
    )


class ResidentQuotaShortfall(RuleViolation):
    """Rule 3: resident representatives are, in principle, at least two-thirds."""

    rule = "§四.4"
    rule_number = 3
    remedy = "请增加群众代表，或记录不足三分之二的理由"
    remedy_en = "add resident representatives or record a justification"


class ProcedureOrderViolation(RuleViolation):
    """Rule 4: the procedure runs in its order (议题→调研→人员→活动→成果→反馈)."""

    rule = "§四.2"
    rule_number = 4
    remedy = (
        "请按“明确协商议题、开展协商调研、确定协商人员、举办协商活动、"
        "报送协商成果、成果运用反馈”的顺序办理"
    )
    remedy_en = "follow the procedure: topic, research, participants, activity, outcome, feedback"


class PublicityAndSupervisionRequired(RuleViolation):
    """Rule 5: adopted matters to implement are publicised, tracked and supervised."""

    rule = "§四.6"
    rule_number = 5
    remedy = "需要落实的事项须先公示再组织实施，并跟踪监督落实成效"
    remedy_en = "publicise before implementing, then track and verify the implementation"


class CauseAnalysisRequired(RuleViolation):
    """Rule 6: an unimplemented matter gets its cause analysed and may be consulted again."""

    rule = "§四.6"
    rule_number = 6
    remedy = "落实不到位的，须先分析原因并记录，可以再协商"
    remedy_en = "record the analysed cause of the shortfall; a re-consultation may follow"


class DissentExplanationRequired(RuleViolation):
    """Rule 7: residents who disagreed get an explanation."""

    rule = "§四.6"
    rule_number = 7
    remedy = "请先向持不同意见的群众做好解释说明并记录"
    remedy_en = "explain the outcome to the residents who disagreed and record it"


class CountyMemberLinkRequired(RuleViolation):
    """Rule 8: a village/community/enterprise room has a linked county-level CPPCC member."""

    rule = "§五.3"
    rule_number = 8
    remedy = "请先从镇政协委员履职小组中明确一名以上县区政协委员挂钩"
    remedy_en = "link at least one county-level CPPCC member to the room first"


RULE_ERRORS: tuple[type[RuleViolation], ...] = (
    PartyApprovalRequired,
    TopicFilingViolation,
    ResidentQuotaShortfall,
    ProcedureOrderViolation,
    PublicityAndSupervisionRequired,
    CauseAnalysisRequired,
    DissentExplanationRequired,
    CountyMemberLinkRequired,
)
"""Rules 1–8 in order; rule 9 is checked by analytics, not at command time."""


_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


class ValidationError(DomainError):
    """Bad input: names the field (a msgspec-style path such as ``participants[2].role``)."""

    status: ClassVar[int] = 422

    def __init__(self, field: str, message: str, message_en: str = "") -> None:
        self.field = field
        super().__init__(f"{field}: {message}", f"{field}: {message_en}" if message_en else "")

    @classmethod
    def from_msgspec(cls, error: msgspec.ValidationError) -> ValidationError:
        """Keep msgspec's path: ``Expected `int` >= 0 - at `$.percent``` → field ``percent``."""
        text = str(error)
        match = _PATH.search(text)
        field = match.group("path") if match else ""
        reason = _PATH.sub("", text)
        return cls(field or "$", f"输入无效：{reason}", f"invalid input: {reason}")


class NotFoundError(DomainError):
    """The command names a room, topic, consultation or outcome that does not exist."""

    status: ClassVar[int] = 404

    _KINDS: ClassVar[dict[str, str]] = {
        "room": "协商议事室",
        "topic": "协商议题",
        "consultation": "协商活动",
        "outcome": "协商成果",
    }

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(
            f"未找到{self._KINDS.get(kind, kind)} {ident}", f"{kind} {ident} not found"
        )
