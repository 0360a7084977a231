"""The role × command table: who may run which command of the application, and where.

Every write over HTTP goes through :func:`authorize`, which returns the :class:`Actor` the
event will carry: the authenticated person's id and the role the table allowed. A request
body never names the actor.

Three further checks beyond role and scope:

- :data:`OWN_ASSIGNMENT`: an implementing unit reports only on outcomes assigned to it;
- :data:`IN_OWN_NAME`: a participant casts only their own vote and a resident lodges only
  their own objection (the body's person field must be the caller), while the clerk may
  record either on someone's behalf;
- :data:`TOPIC_SOURCE_OF`: a resident proposes as residents (群众出题), a member as a member
  (委员荐题), an official or party organisation as the party and government (点题);
- the office (领导小组办公室) and auditors (纪检监察) are in no row: they read, never write.

docs/api.md prints this table; ``tests/service/http/test_policy.py`` checks every role × command
pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from events.common import PARTICIPANT_ROLES, Actor
from events.room import Region
from service.auth.users import EVENT_ROLES, USER_ROLES, Grant, Scope, User

POLICY: Final[Mapping[str, frozenset[str]]] = {
    # rooms (§四.1, §五.3–§五.5)
    "establish_room": frozenset({"party_org", "clerk"}),
    "assign_convener": frozenset({"party_org", "clerk"}),
    "assign_liaison": frozenset({"party_org", "clerk"}),
    "link_member": frozenset({"party_org", "clerk", "members_group"}),
    "file_annual_plan": frozenset({"convener", "clerk"}),
    # topics (§二.1, §四.3): 点题 by officials, 荐题 by members, 出题 by residents
    "propose_topic": frozenset(
        {"resident", "resident_rep", "cppcc_member", "official", "party_org", "convener", "clerk"}
    ),
    "approve_topic": frozenset({"party_org", "upper_party_org"}),
    "reject_topic": frozenset({"party_org", "upper_party_org"}),
    "escalate_topic_for_approval": frozenset({"party_org"}),
    "file_topic": frozenset({"county_cppcc", "members_group", "clerk"}),
    "withdraw_topic": frozenset({"party_org", "convener", "clerk"}),
    # consultations (§四.2–§四.5)
    "form_research_group": frozenset({"convener", "clerk"}),
    "record_research_finding": frozenset({"convener", "clerk"}),
    "confirm_participants": frozenset({"convener", "clerk"}),
    "schedule_consultation": frozenset({"convener", "clerk"}),
    "hold_consultation": frozenset({"convener", "clerk"}),
    "record_opinion": frozenset({"convener", "clerk"}),
    "put_motion": frozenset({"convener"}),
    "cast_vote": frozenset({"clerk"} | PARTICIPANT_ROLES),
    "resolve_motion": frozenset({"convener"}),
    "reach_consensus": frozenset({"convener", "clerk"}),
    "record_dissent": frozenset({"convener", "clerk"}),
    # outcomes: the closed loop (§四.2, §四.6)
    "draft_outcome": frozenset({"convener", "clerk"}),
    "report_outcome": frozenset({"convener", "clerk"}),
    "adopt_outcome": frozenset({"party_org", "official"}),
    "decline_outcome": frozenset({"party_org", "official"}),
    "publish_publicity": frozenset({"clerk", "convener"}),
    "receive_objection": frozenset({"resident", "resident_rep", "clerk"}),
    "assign_implementation": frozenset({"official", "party_org"}),
    "report_progress": frozenset({"implementing_unit"}),
    "complete_implementation": frozenset({"implementing_unit"}),
    "verify_implementation": frozenset({"supervisor"}),
    "record_stall": frozenset({"supervisor", "convener"}),
    "open_reconsultation": frozenset({"convener", "party_org"}),
    "deliver_feedback": frozenset({"clerk", "convener"}),
    "explain_dissent": frozenset({"convener", "clerk"}),
    "escalate_outcome": frozenset({"cppcc_member", "liaison"}),
    "close_outcome": frozenset({"clerk", "convener"}),
}
"""Command (the application's method) → the roles that may run it, within their scope."""

OWN_ASSIGNMENT: Final = frozenset({"report_progress", "complete_implementation"})
"""Commands an implementing unit runs only on outcomes assigned to it."""

IN_OWN_NAME: Final[Mapping[str, tuple[str, frozenset[str]]]] = {
    "cast_vote": ("voter_id", PARTICIPANT_ROLES),
    "receive_objection": ("objector_id", frozenset({"resident", "resident_rep"})),
}
"""Command → (body field naming a person, roles that may only name themselves there)."""

TOPIC_SOURCE_OF: Final[Mapping[str, str]] = {
    "resident": "residents",
    "resident_rep": "residents",
    "cppcc_member": "member",
    "official": "party_government",
    "party_org": "party_government",
}
"""Who proposes a topic names its source by who they are (§四.3): residents 出题, members
荐题, the party and government 点题; the clerk and the convener record any source, including
a public call (公开征集)."""

EXPORT_ROLES: Final = frozenset({"auditor", "office"})
"""Who may download audit bundles (``GET /audit/export``); everyone authenticated may read."""

EXACT_SCOPE_ROLES: Final = frozenset({"party_org"})
"""Roles whose region scope must equal the room's region, not merely contain it."""

assert set(POLICY) >= set(OWN_ASSIGNMENT) | set(IN_OWN_NAME)
assert all(roles <= EVENT_ROLES for roles in POLICY.values())
assert set(USER_ROLES) >= EVENT_ROLES


@dataclass(frozen=True)
class Target:
    """What a command acts on, as far as scope is concerned."""

    room_id: str | None
    region: Region | None
    unit_id: str | None = None
    """For outcomes: the implementing unit charged with it, if any."""


class Forbidden(Exception):  # noqa: N818 - reads as the HTTP status it maps to
    """The caller may not run this command here; the message says why, in Chinese."""

    def __init__(self, message: str, message_en: str) -> None:
        self.message = message
        self.message_en = message_en
        super().__init__(f"{message} / {message_en}")


def covers(grant: Grant, target: Target) -> bool:
    """Whether ``grant``'s scope reaches ``target``'s room."""
    scope: Scope = grant.scope
    if scope.everywhere:
        return True
    if scope.room_id is not None:
        return target.room_id is not None and scope.room_id == target.room_id
    region = target.region
    if region is None:
        return False
    pairs = ((scope.county, region.county), (scope.town, region.town))
    if grant.role in EXACT_SCOPE_ROLES:
        return all(a == b for a, b in pairs) and scope.locality == region.locality
    if scope.locality is not None and scope.locality != region.locality:
        return False
    return all(a is None or a == b for a, b in pairs)


def may_run(role: str, command: str) -> bool:
    """The table's answer, before scope: may ``role`` run ``command`` at all?"""
    return role in POLICY.get(command, frozenset())


def authorize(
    user: User, command: str, target: Target | None, fields: Mapping[str, object] | None = None
) -> Actor:
    """The actor for ``user`` running ``command`` on ``target``, or :class:`Forbidden`.

    ``target`` None checks the role alone (before the body is read); ``fields`` None skips
    the :data:`IN_OWN_NAME` check (the body's fields are needed for it).
    """
    allowed = [g for g in user.grants if may_run(g.role, command)]
    if not allowed:
        held = "、".join(user.roles) or "无"
        raise Forbidden(
            f"您的角色（{held}）无权办理此事项（{command}）；请由有权限的人员办理",
            f"none of your roles ({', '.join(user.roles)}) may run {command}",
        )
    if target is None:
        return Actor(id=user.id, role=allowed[0].role)  # type: ignore[arg-type]
    in_scope = [g for g in allowed if covers(g, target)]
    if not in_scope:
        where = "；".join(g.scope.describe() for g in allowed)
        raise Forbidden(
            f"此事项不属于您的辖区或议事室（您的范围：{where}）",
            f"the target is outside your scope ({where})",
        )
    grant = in_scope[0]
    if (
        command in OWN_ASSIGNMENT
        and grant.role == "implementing_unit"
        and target.unit_id != user.id
    ):
        raise Forbidden(
            "该成果未交办给您单位，只能报告本单位承办事项的落实情况",
            "this outcome is not assigned to your unit",
        )
    if command in IN_OWN_NAME and fields is not None:
        field, own_roles = IN_OWN_NAME[command]
        if grant.role in own_roles and fields.get(field) != user.id:
            raise Forbidden(
                f"只能以本人名义办理（{field} 须为 {user.id}）",
                f"{field} must be your own id ({user.id})",
            )
    if command == "propose_topic" and fields is not None:
        own_source = TOPIC_SOURCE_OF.get(grant.role)
        if own_source is not None and fields.get("source") != own_source:
            raise Forbidden(
                f"以{grant.role}身份提出的议题，来源须为 {own_source}",
                f"a topic proposed as {grant.role} has source {own_source}",
            )
    return Actor(id=user.id, role=grant.role)  # type: ignore[arg-type]
