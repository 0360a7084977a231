"""Chinese column headers for the spreadsheets ``hsl export`` writes (CSV and XLSX).

``COLUMN_HEADERS`` maps every table and view of the projection to every one of its columns
(``projections/tables.py`` and ``projections/closed_loop.py`` here, the analytics views'
``ANALYTICS_HEADERS`` from ``projections/analytics_headers.py``); a test checks that a freshly
created views file has no column without one. The wording follows docs/analytics.md and the terms of
the 有事好商量 documents (议事室, 议题, 协商成果, 采纳, 落实, 反馈 …). Values are not translated:
codes such as ``stage = 'adopted'`` stay as they are stored.

A column of an arbitrary ``--sql`` result is looked up by its name alone (:func:`header_for`):
a name that means the same in every relation gets its header, one that means different things
(``status`` of a topic or of a consultation) gets the shared wording of ``SHARED_HEADERS``, and
anything else keeps its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from projections.analytics_headers import ANALYTICS_HEADERS

# Columns that mean the same in every table that has them.
_ROOM_ID = {"room_id": "议事室编号"}
_TOPIC_ID = {"topic_id": "议题编号"}
_CONSULTATION_ID = {"consultation_id": "协商活动编号"}
_OUTCOME_ID = {"outcome_id": "成果编号"}
_BACKDATED = {"backdated_entry": "延迟登记（超过7日补录）"}
_SEQ = {"seq": "事件序号"}

PROJECTION_HEADERS: Final[dict[str, dict[str, str]]] = {
    "tracking": {
        "application_name": "应用名称",
        "notification_id": "已投影至事件序号",
    },
    "projection_schema": {
        "version": "视图结构版本",
    },
    "quarantine": {
        "stream": "事件流",
        "seq": "消息序号",
        "subject": "主题",
        "kind": "隔离类别（无法解码/不合约定）",
        "reason": "隔离原因",
    },
    "rooms": {
        **_ROOM_ID,
        "name": "议事室名称",
        "level": "议事室层级",
        "county": "县（市、区）",
        "town": "乡镇（街道）",
        "locality": "村（社区、企业）",
        "parent_room_id": "所属乡镇议事室编号",
        "established_at": "设立时间",
        "convener_id": "召集人编号",
        "convener_name": "召集人姓名",
        "convener_position": "召集人职务",
        "liaison_id": "政协工作联络员编号",
        "liaison_name": "政协工作联络员姓名",
        "county_member_count": "挂钩县级政协委员人数",
        **_BACKDATED,
        **_SEQ,
    },
    "room_members": {
        **_ROOM_ID,
        "member_id": "委员编号",
        "member_name": "委员姓名",
        "member_level": "委员层级",
        "members_group": "委员履职小组",
        "linked_at": "挂钩时间",
        **_SEQ,
    },
    "room_plans": {
        **_ROOM_ID,
        "year": "年度",
        "planned_consultations": "计划协商次数",
        "filed_at": "计划报备时间",
        **_SEQ,
    },
    "topics": {
        **_TOPIC_ID,
        **_ROOM_ID,
        "room_level": "议事室层级",
        "title": "议题名称",
        "source": "议题来源",
        "reconsultation_of": "再协商所涉成果编号",
        "status": "议题状态",
        "proposed_at": "提出时间",
        "escalated_to": "报请审批的上级党组织",
        "escalated_at": "报请上级审批时间",
        "approving_org": "审定组织",
        "approved_by_upper_level": "经上级党组织审定",
        "approved_at": "审定时间",
        "rejecting_org": "不予通过的组织",
        "rejection_reason": "不予通过理由",
        "rejected_at": "不予通过时间",
        "filed_with": "备案机关",
        "filing_ref": "备案编号",
        "filed_at": "备案时间",
        "withdrawn_at": "撤回时间",
        "withdrawal_reason": "撤回理由",
        **_BACKDATED,
        **_SEQ,
    },
    "consultations": {
        **_CONSULTATION_ID,
        **_TOPIC_ID,
        **_ROOM_ID,
        "room_level": "议事室层级",
        "status": "协商活动状态",
        "research_lead_id": "调研牵头人编号",
        "research_group_size": "调研组人数",
        "research_started_at": "调研开始时间",
        "research_findings": "调研发现条数",
        "participant_count": "参加协商人数",
        "resident_count": "群众代表人数",
        "quota_met": "群众代表达三分之二",
        "quota_justification": "未达比例的说明",
        "participants_confirmed_at": "确定参加人员时间",
        "form": "协商形式",
        "venue": "协商场所",
        "venue_detail": "场所说明",
        "scheduled_for": "计划协商时间",
        "host_id": "主持人编号",
        "held_at": "协商举行时间",
        "attendee_count": "实到人数",
        "opinion_count": "意见建议条数",
        "consensus_summary": "协商共识",
        "consensus_at": "达成共识时间",
        "dissent_count": "不同意见数",
        **_BACKDATED,
        **_SEQ,
    },
    "participants": {
        **_CONSULTATION_ID,
        "person_id": "人员编号",
        "name": "姓名",
        "role": "参加身份",
        "confirmed_at": "确定时间",
        **_SEQ,
    },
    "motions": {
        **_CONSULTATION_ID,
        "motion_id": "表决事项编号",
        "text": "表决事项",
        "put_at": "提请表决时间",
        "votes_cast": "已记录票数",
        "votes_for": "赞成票数",
        "votes_against": "反对票数",
        "abstentions": "弃权票数",
        "present": "到会人数",
        "result": "表决结果",
        "resolved_at": "表决结果产生时间",
        **_SEQ,
    },
    "dissents": {
        **_CONSULTATION_ID,
        "dissent_id": "不同意见编号",
        "person_count": "持不同意见人数",
        "position": "不同意见内容",
        "recorded_at": "记录时间",
        **_SEQ,
    },
    "outcomes": {
        **_OUTCOME_ID,
        **_CONSULTATION_ID,
        **_TOPIC_ID,
        **_ROOM_ID,
        "kind": "成果类型",
        "title": "成果名称",
        "stage": "所处环节",
        "drafted_at": "成果形成时间",
        "reported_at": "报送时间",
        "adopted_at": "采纳时间",
        "adopted_as": "采纳方式",
        "needs_implementation": "需要落实",
        "decided_by": "采纳决定单位",
        "not_adopted_at": "不予采纳时间",
        "not_adopted_reason": "不予采纳理由",
        "publicised_at": "公示时间",
        "publicity_starts_on": "公示开始日期",
        "publicity_ends_on": "公示结束日期",
        "objection_count": "公示期异议数",
        "implementing_unit_id": "责任单位编号",
        "implementing_unit_name": "责任单位",
        "implementation_assigned_at": "交办时间",
        "deadline": "办理期限",
        "progress_percent": "落实进度（%）",
        "progress_at": "进度报告时间",
        "implemented_at": "落实完成时间",
        "verified_at": "成效核查时间",
        "verified_effective": "核查确认有效",
        "stalled": "落实不到位",
        "stall_count": "落实不到位次数",
        "stalled_at": "落实不到位登记时间",
        "stall_cause": "落实不到位原因",
        "reconsultation_topic_id": "再协商议题编号",
        "reconsulted_at": "启动再协商时间",
        "escalated_to": "向上反映至",
        "escalation_category": "向上反映类别",
        "escalated_at": "向上反映时间",
        "fed_back_at": "反馈群众时间",
        "closed_at": "闭环时间",
        **_BACKDATED,
        "last_event_at": "最近事件时间",
        **_SEQ,
    },
    "dissent_explanations": {
        **_OUTCOME_ID,
        "dissent_id": "不同意见编号",
        "explained_at": "解释说明时间",
        **_SEQ,
    },
}
"""The tables of ``projections/schema.py``; ``outcome_status`` is added below."""

_OUTCOME_STATUS_OWN: Final[dict[str, str]] = {
    "room_name": "议事室名称",
    "overdue": "逾期未落实",
    "reconsulted": "已再协商",
    "escalated": "已向上反映",
    "dissent_count": "协商中不同意见数",
    "dissents_explained": "已解释说明的不同意见数",
    "dissent_explained": "不同意见均已解释说明",
}

PROJECTION_HEADERS["outcome_status"] = {
    column: _OUTCOME_STATUS_OWN.get(column) or PROJECTION_HEADERS["outcomes"].get(column)
    or PROJECTION_HEADERS["rooms"][column]
    for column in (
        "outcome_id", "room_id", "room_name", "county", "town", "topic_id", "consultation_id",
        "kind", "title", "stage", "drafted_at", "reported_at", "adopted_at", "adopted_as",
        "not_adopted_at", "publicised_at", "implementation_assigned_at", "implementing_unit_id",
        "implementing_unit_name", "deadline", "progress_percent", "implemented_at",
        "verified_at", "fed_back_at", "closed_at", "overdue", "stalled", "stall_cause",
        "reconsulted", "reconsultation_topic_id", "escalated", "escalated_to", "dissent_count",
        "dissents_explained", "dissent_explained", "backdated_entry",
    )
}  # fmt: skip


COLUMN_HEADERS: Final[dict[str, dict[str, str]]] = {**PROJECTION_HEADERS, **ANALYTICS_HEADERS}
"""Every table and view → every column → its Chinese header."""

SHARED_HEADERS: Final[dict[str, str]] = {
    "name": "名称",
    "status": "状态",
    "escalated_to": "报送至",
    "escalated_at": "上报时间",
    "dissent_count": "不同意见数",
    "filed_at": "备案时间",
}
"""Wording for a column name that different relations head differently, for ``--sql``."""


def _by_name(headers: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    seen: dict[str, set[str]] = {}
    for columns in headers.values():
        for column, header in columns.items():
            seen.setdefault(column, set()).add(header)
    found = {column: next(iter(h)) for column, h in seen.items() if len(h) == 1}
    ambiguous = {c: SHARED_HEADERS[c] for c in seen if c not in found and c in SHARED_HEADERS}
    return found | ambiguous


BY_COLUMN_NAME: Final[dict[str, str]] = _by_name(COLUMN_HEADERS)
"""A column name → its header, where the name alone decides it (see the module docstring)."""


def header_for(column: str, relation: str | None = None) -> str:
    """The Chinese header of ``column`` (of ``relation`` when known); else ``column`` itself."""
    if relation is not None and relation in COLUMN_HEADERS:
        return COLUMN_HEADERS[relation].get(column, column)
    return BY_COLUMN_NAME.get(column, column)


def headers_for(columns: Sequence[str], relation: str | None = None) -> list[str]:
    """One header per column, unique: a repeated header is told apart by its column name."""
    headers = [header_for(column, relation) for column in columns]
    counts: dict[str, int] = {}
    for header in headers:
        counts[header] = counts.get(header, 0) + 1
    return [
        f"{header}（{column}）" if counts[header] > 1 and header != column else header
        for header, column in zip(headers, columns, strict=True)
    ]
