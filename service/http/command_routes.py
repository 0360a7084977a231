"""One HTTP route per command of the application, derived from its method signatures.

Each :class:`CommandRoute` names the application method, its path and what the path's id
names. Its request body is a msgspec ``Struct`` built from the method's keyword parameters
(their types are the events' own: ``Person``, ``Region``, ``Participant``, the Literals …),
so the API cannot drift from the application and no event is modelled twice. ``actor`` is
never a body field: it comes from the bearer token (``forbid_unknown_fields`` refuses it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, get_type_hints

import msgspec

from events.common import Family, UtcDatetime
from service.application import HaoshangliangApplication


@dataclass(frozen=True)
class CommandRoute:
    """``POST path`` runs ``HaoshangliangApplication.<name>``."""

    name: str
    path: str
    target: Family | None
    """What ``{id}`` in the path names (None: no id, ``establish_room``)."""
    creates: Family | None = None
    """The aggregate the command creates (its id is the response's ``id``)."""
    body: type[msgspec.Struct] = field(init=False)
    summary: str = field(init=False)

    def __post_init__(self) -> None:
        method = getattr(HaoshangliangApplication, self.name)
        object.__setattr__(self, "body", _body_struct(self.name, method, self.target))
        doc = inspect.getdoc(method) or self.name
        object.__setattr__(self, "summary", doc.split("\n\n")[0].replace("\n", " "))

    @property
    def tag(self) -> str:
        return f"{self.target or self.creates}s"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _body_struct(
    name: str, method: Callable[..., Any], target: Family | None
) -> type[msgspec.Struct]:
    hints = get_type_hints(method, include_extras=True)
    params = list(inspect.signature(method).parameters.values())[1:]  # skip self
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for param in params:
        if param.name == "actor" or (
            target is not None and param.kind is param.POSITIONAL_OR_KEYWORD
        ):
            continue
        hint = UtcDatetime if param.name == "occurred_at" else hints[param.name]
        if param.default is inspect.Parameter.empty:
            fields.append((param.name, hint))
        else:
            fields.append((param.name, hint, param.default))
    return msgspec.defstruct(
        f"{_camel(name)}Request",
        fields,
        kw_only=True,
        frozen=True,
        forbid_unknown_fields=True,
        module=__name__,
    )


COMMAND_ROUTES: Final[tuple[CommandRoute, ...]] = (
    # rooms
    CommandRoute("establish_room", "/rooms", None, creates="room"),
    CommandRoute("assign_convener", "/rooms/{id:uuid}/convener", "room"),
    CommandRoute("assign_liaison", "/rooms/{id:uuid}/liaison", "room"),
    CommandRoute("link_member", "/rooms/{id:uuid}/members", "room"),
    CommandRoute("file_annual_plan", "/rooms/{id:uuid}/plans", "room"),
    # topics
    CommandRoute("propose_topic", "/rooms/{id:uuid}/topics", "room", creates="topic"),
    CommandRoute("approve_topic", "/topics/{id:uuid}/approve", "topic"),
    CommandRoute("reject_topic", "/topics/{id:uuid}/reject", "topic"),
    CommandRoute("escalate_topic_for_approval", "/topics/{id:uuid}/escalate", "topic"),
    CommandRoute("file_topic", "/topics/{id:uuid}/file", "topic"),
    CommandRoute("withdraw_topic", "/topics/{id:uuid}/withdraw", "topic"),
    # consultations
    CommandRoute(
        "form_research_group", "/topics/{id:uuid}/consultation", "topic", creates="consultation"
    ),
    CommandRoute("record_research_finding", "/consultations/{id:uuid}/findings", "consultation"),
    CommandRoute("confirm_participants", "/consultations/{id:uuid}/participants", "consultation"),
    CommandRoute("schedule_consultation", "/consultations/{id:uuid}/schedule", "consultation"),
    CommandRoute("hold_consultation", "/consultations/{id:uuid}/hold", "consultation"),
    CommandRoute("record_opinion", "/consultations/{id:uuid}/opinions", "consultation"),
    CommandRoute("put_motion", "/consultations/{id:uuid}/motions", "consultation"),
    CommandRoute("cast_vote", "/consultations/{id:uuid}/votes", "consultation"),
    CommandRoute("resolve_motion", "/consultations/{id:uuid}/motion-results", "consultation"),
    CommandRoute("reach_consensus", "/consultations/{id:uuid}/consensus", "consultation"),
    CommandRoute("record_dissent", "/consultations/{id:uuid}/dissents", "consultation"),
    # outcomes
    CommandRoute(
        "draft_outcome", "/consultations/{id:uuid}/outcomes", "consultation", creates="outcome"
    ),
    CommandRoute("report_outcome", "/outcomes/{id:uuid}/report", "outcome"),
    CommandRoute("adopt_outcome", "/outcomes/{id:uuid}/adopt", "outcome"),
    CommandRoute("decline_outcome", "/outcomes/{id:uuid}/decline", "outcome"),
    CommandRoute("publish_publicity", "/outcomes/{id:uuid}/publicity", "outcome"),
    CommandRoute("receive_objection", "/outcomes/{id:uuid}/objections", "outcome"),
    CommandRoute("assign_implementation", "/outcomes/{id:uuid}/implementation", "outcome"),
    CommandRoute("report_progress", "/outcomes/{id:uuid}/progress", "outcome"),
    CommandRoute("complete_implementation", "/outcomes/{id:uuid}/completion", "outcome"),
    CommandRoute("verify_implementation", "/outcomes/{id:uuid}/verification", "outcome"),
    CommandRoute("record_stall", "/outcomes/{id:uuid}/stall", "outcome"),
    CommandRoute("open_reconsultation", "/outcomes/{id:uuid}/reconsultation", "outcome"),
    CommandRoute("deliver_feedback", "/outcomes/{id:uuid}/feedback", "outcome"),
    CommandRoute("explain_dissent", "/outcomes/{id:uuid}/dissent-explanations", "outcome"),
    CommandRoute("escalate_outcome", "/outcomes/{id:uuid}/escalation", "outcome"),
    CommandRoute("close_outcome", "/outcomes/{id:uuid}/close", "outcome"),
)
"""Every command of the application, in the order of the procedure."""

BY_NAME: Final = {route.name: route for route in COMMAND_ROUTES}


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """A command recorded: the aggregate it acted on (or created) and what it returned."""

    command: str
    id: str
    """The aggregate acted on; for a command that creates one, the new aggregate's id."""
    result: str | None = None
    """What the command returned besides: a motion, dissent or re-consultation topic id,
    or a motion's result (``carried`` / ``defeated``)."""
