"""The integration event downstream subscribers receive, and the subjects it is published on.

One message per status change of an outcome (协商成果), on::

    hsl.public.outcome.<status>.<room_id>

``<status>`` is one of :data:`STATUSES` (lower case, ``_`` between words) and ``<room_id>`` the
room's UUID in its canonical text form: both are single NATS subject tokens (no ``.``, ``*``,
``>`` or white space), so a subscriber filters with ``hsl.public.outcome.adopted.*`` (every
adoption) or ``hsl.public.outcome.*.<room>`` (everything of one room).

The payload is the JSON of :class:`OutcomeStatusChanged`: a small, documented, versioned
contract, deliberately not the internal event (subscribers should not depend on the log's
schema). Its JSON Schema is in docs/asyncapi.yaml, generated from this Struct.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Final, Literal, get_args
from uuid import UUID

import msgspec
from msgspec import Meta

from events.common import Actor, UtcDatetime

Status = Literal[
    "drafted",
    "reported",
    "adopted",
    "not_adopted",
    "publicised",
    "implementing",
    "overdue",
    "stalled",
    "implemented",
    "verified",
    "fed_back",
    "escalated",
    "reconsulted",
    "closed",
]
"""An outcome's status as the feed reports it; ``drafted`` is its creation."""

STATUSES: Final[tuple[str, ...]] = get_args(Status)

SUBJECT_PREFIX: Final = "hsl.public.outcome"
"""Every integration event's subject starts with this."""
ALL_SUBJECTS: Final = f"{SUBJECT_PREFIX}.*.*"
"""The public stream's one subject filter."""

SCHEMA_VERSION: Final = 1


class OutcomeStatusChanged(msgspec.Struct, frozen=True, kw_only=True, tag="outcome.status_changed"):
    """An outcome was created (`drafted`) or its status changed.

    For one outcome the events form a chain: each one's `previous_status` is the `status` of
    the one before (`null` on `drafted`), so a subscriber can see that it holds every change.
    `source_sequence` (the log's stream sequence of the event that caused the change) identifies
    the change: together with `status` it is unique, the key to dedupe on, and the way to find
    the event in the log (`hsl replay outcome ID`).
    """

    schema_version: Annotated[int, Meta(ge=1, description="version of this message's schema")] = (
        SCHEMA_VERSION
    )
    outcome_id: UUID
    room_id: UUID
    topic_id: UUID
    status: Annotated[Status, Meta(description="the outcome's new status")]
    previous_status: Annotated[
        Status | None, Meta(description="the status before; null when the outcome was created")
    ]
    source_sequence: Annotated[
        int,
        Meta(
            ge=1,
            description="stream sequence (notification id) in the event log of the event that "
            "caused the change; for `overdue`, of the last event read before it was observed",
        ),
    ]
    source_type: Annotated[
        str,
        Meta(
            description="that event's type (e.g. `outcome.adopted`); for `overdue`, "
            "`clock.deadline_passed`"
        ),
    ]
    occurred_at: Annotated[
        UtcDatetime,
        Meta(
            description="when it happened in the world (the event's occurred_at); for `overdue`, "
            "the end of the deadline day in China Standard Time"
        ),
    ]
    recorded_at: Annotated[
        UtcDatetime,
        Meta(
            description="when the log recorded it (the event's recorded_at); for `overdue`, "
            "when the feed observed it"
        ),
    ]
    actor: Annotated[Actor | None, Meta(description="who acted (id, role); null for `overdue`")] = (
        None
    )
    title: Annotated[str, Meta(description="the outcome's title")] = ""
    kind: Annotated[str, Meta(description="`opinion` or `suggestion`")] = ""
    deadline: Annotated[
        date | None, Meta(description="the implementation deadline, once assigned")
    ] = None
    implementing_unit_id: Annotated[
        str | None, Meta(description="the responsible unit (责任单位), once assigned")
    ] = None
    detail: Annotated[
        str,
        Meta(
            description="one key fact of the change where there is one: adopted as, the "
            "reason not adopted, the stall's cause, the escalation level, the new topic's id"
        ),
    ] = ""


_ROOM_TOKEN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class SubjectError(ValueError):
    """A subject (or filter) outside the public feed's documented scheme."""


def subject_for(status: str, room_id: UUID) -> str:
    """The subject of one integration event."""
    if status not in STATUSES:
        raise SubjectError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
    return f"{SUBJECT_PREFIX}.{status}.{room_id}"


def subject_of(event: OutcomeStatusChanged) -> str:
    return subject_for(event.status, event.room_id)


def check_filter(subject: str) -> str:
    """``subject`` if it is a valid filter on the public feed; else a one-line SubjectError.

    Accepted: ``hsl.public.outcome.>``, ``hsl.public.outcome.<status|*>.<room|*>`` and
    ``hsl.public.outcome.<status|*>.>``.
    """
    text = subject.strip()
    tokens = text.split(".")
    scheme = f"{SUBJECT_PREFIX}.<status|*>.<room-uuid|*> (or {SUBJECT_PREFIX}.>)"
    if tokens[:3] != SUBJECT_PREFIX.split(".") or len(tokens) < 4:
        raise SubjectError(f"subject {subject!r} is not on the public feed: use {scheme}")
    rest = tokens[3:]
    if rest == [">"]:
        return text
    if len(rest) != 2:
        raise SubjectError(f"subject {subject!r} has {len(rest)} tokens after the prefix: {scheme}")
    status, room = rest
    if status not in (*STATUSES, "*"):
        raise SubjectError(
            f"unknown status {status!r} in {subject!r}: one of {', '.join(STATUSES)}"
        )
    if room not in ("*", ">") and not _ROOM_TOKEN.match(room):
        raise SubjectError(f"{room!r} in {subject!r} is not a room id (a lower-case UUID) or *")
    return text


encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(OutcomeStatusChanged).decode


def to_builtins(event: OutcomeStatusChanged) -> dict[str, object]:
    """The event as JSON-ready builtins (what ``hsl subscribe`` prints, one line each)."""
    value = msgspec.to_builtins(event)
    assert isinstance(value, dict)
    return value
