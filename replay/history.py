"""Timelines for auditors: the events behind an outcome, topic, consultation or room, in order.

A timeline reads only the subjects concerned (one JetStream subject per aggregate, by direct
get on the subject's index), never the whole stream: an auditor asking about one outcome costs
a few requests whatever the size of the log. For an outcome the subjects concerned are its own,
its topic's and consultation's, the topics it was consulted again under (re-consultation,
§四.6) and the outcome it is itself a re-consultation of; escalations via the CPPCC channel
are the outcome's own events (``outcome.escalated``). Entries from all of them are merged in
stream-sequence order, the order the log gives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from events import codec
from events.common import FAMILIES, BaseEvent
from events.consultation import ConsultationEvent, consultation_id_for
from events.jetstream.commits import JetStreamRecorder
from events.jetstream.operations import StoredMessage
from events.jetstream.quarantine import QuarantineCounter, Quarantined, classify_messages
from events.jetstream.stream_layout import ORIGINATOR_VERSION
from events.outcome import OutcomeEvent, ReconsultationOpened
from events.room import RoomEvent
from events.topic import TopicEvent

COMMON_FIELDS: Final = frozenset(
    {"type", "actor", "occurred_at", "recorded_at", "backdated", "schema_version"}
)
"""Fields every event carries; the rest are the event's own (its "key fields")."""

FAMILY_OF: Final[dict[type[BaseEvent], str]] = {
    OutcomeEvent: "outcome",
    TopicEvent: "topic",
    ConsultationEvent: "consultation",
    RoomEvent: "room",
}


class HistoryError(LookupError):
    """The timeline asked for cannot be given; the message names the id and why."""


@dataclass(frozen=True)
class Entry:
    """One stored event as an auditor reads it."""

    seq: int
    """Stream sequence: the event's notification id and its place in the log."""
    stored_at: str
    """The NATS server's storage time (RFC 3339, UTC)."""
    recorded_at: datetime
    occurred_at: datetime
    actor_id: str
    actor_role: str
    family: str
    aggregate_id: str
    version: int
    event: str
    """The event's type tag, e.g. ``outcome.adopted``."""
    backdated: bool
    fields: dict[str, Any]
    """The event's own fields (those beyond :data:`COMMON_FIELDS`), as JSON values."""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "stored_at": self.stored_at,
            "recorded_at": self.recorded_at.isoformat(),
            "occurred_at": self.occurred_at.isoformat(),
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "family": self.family,
            "aggregate_id": self.aggregate_id,
            "version": self.version,
            "event": self.event,
            "backdated": self.backdated,
            "fields": self.fields,
        }


@dataclass(frozen=True)
class Timeline:
    """A subject's history: the entries of every aggregate concerned, in sequence order."""

    kind: str
    id: str
    entries: list[Entry]
    links: dict[str, list[str]] = field(default_factory=dict)
    """Linked aggregates by relation (``topic``, ``reconsultation_topics`` …), as ids."""
    aggregates_read: list[str] = field(default_factory=list)
    """Every aggregate whose subject was read, in the order read."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "links": self.links,
            "entries": [entry.to_json() for entry in self.entries],
        }


def entry_of(message: StoredMessage, aggregate_id: str, event: BaseEvent | None = None) -> Entry:
    """Decode one stored message into a timeline entry (upcasting older event versions)."""
    if event is None:
        event = codec.decode(message.payload)
    data = msgspec.to_builtins(event)
    return Entry(
        seq=message.seq,
        stored_at=message.timestamp,
        recorded_at=event.recorded_at,
        occurred_at=event.occurred_at,
        actor_id=event.actor.id,
        actor_role=event.actor.role,
        family=family_of(event),
        aggregate_id=aggregate_id,
        version=int(message.headers[ORIGINATOR_VERSION]),
        event=codec.tag_of(event),
        backdated=event.backdated,
        fields={k: v for k, v in data.items() if k not in COMMON_FIELDS},
    )


def family_of(event: BaseEvent) -> str:
    for base, family in FAMILY_OF.items():
        if isinstance(event, base):
            return family
    msg = f"event type {codec.tag_of(event)!r} belongs to no aggregate family"
    raise HistoryError(msg)


class HistoryReader:
    """Builds timelines from the log through a JetStream recorder, subject by subject."""

    def __init__(self, recorder: JetStreamRecorder) -> None:
        self._recorder = recorder
        self._read: dict[str, list[Entry]] = {}
        self.quarantine = QuarantineCounter("history")
        """Messages on the subjects read that are not events: left out of the timelines."""

    def timeline(self, kind: str, id_text: str) -> Timeline:
        """The timeline of ``kind`` ``id_text``; :class:`HistoryError` if there is none."""
        if kind not in FAMILIES:
            msg = f"unknown kind {kind!r}: choose one of {', '.join(FAMILIES)}"
            raise HistoryError(msg)
        aggregate_id = parse_id(id_text, kind)
        self._read = {}
        own = self._aggregate(aggregate_id, kind)
        links: dict[str, list[str]] = {}
        if kind == "outcome":
            links = self._outcome_links(own)
        elif kind == "topic":
            links = self._topic_links(own, aggregate_id)
        elif kind == "consultation":
            links = _links_from(own, ("topic_id", "topic"), ("room_id", "room"))
        entries = sorted(
            (entry for read in self._read.values() for entry in read), key=lambda e: e.seq
        )
        return Timeline(
            kind=kind,
            id=str(aggregate_id),
            entries=entries,
            links=links,
            aggregates_read=list(self._read),
        )

    def person_timeline(self, person_id: str, acts: Sequence[tuple[str, int]]) -> Timeline:
        """A person's timeline: the events ``acts`` names (aggregate id, sequence), in order.

        ``acts`` comes from the views' ``person_acts`` index; only those aggregates' subjects
        are read, and only the named events kept. :class:`HistoryError` if there are none.
        """
        if not acts:
            msg = f"no event in the views concerns person {person_id!r}"
            raise HistoryError(msg)
        self._read = {}
        wanted = {seq for _, seq in acts}
        for aggregate_id in dict.fromkeys(a for a, _ in acts):
            self._aggregate(_aggregate_key(aggregate_id))
        entries = sorted(
            (e for read in self._read.values() for e in read if e.seq in wanted),
            key=lambda e: e.seq,
        )
        missing = wanted - {e.seq for e in entries}
        if missing:
            msg = (
                f"the views name events {sorted(missing)[:5]} for {person_id!r} that the log "
                "does not hold under those aggregates: rebuild the views"
            )
            raise HistoryError(msg)
        return Timeline(
            kind="person",
            id=person_id,
            entries=entries,
            links={"aggregates": list(self._read)},
            aggregates_read=list(self._read),
        )

    def _aggregate(self, aggregate_id: UUID | str, kind: str | None = None) -> list[Entry]:
        """Every event of one aggregate (reading its subject once per timeline)."""
        key = str(aggregate_id)
        if key in self._read:
            return self._read[key]
        messages = self._recorder.stored_messages(aggregate_id)
        layout = self._recorder.layout
        entries = []
        for message, event in zip(
            messages, classify_messages(layout.stream, messages, f"{layout.prefix}.events."),
            strict=True,
        ):  # fmt: skip
            if isinstance(event, Quarantined):
                self.quarantine.note(event)  # not an event: not in the timeline
            else:
                entries.append(entry_of(message, key, event))
        if kind is not None:
            if not entries:
                msg = f"no {kind} with id {key} in the log"
                raise HistoryError(msg)
            if entries[0].family != kind:
                msg = f"{key} is {_a(entries[0].family)}, not {_a(kind)}"
                raise HistoryError(msg)
        self._read[key] = entries
        return entries

    def _outcome_links(self, own: list[Entry]) -> dict[str, list[str]]:
        links = _links_from(
            own,
            ("topic_id", "topic"),
            ("consultation_id", "consultation"),
            ("room_id", "room"),
        )
        links["reconsultation_topics"] = [
            str(e.fields["new_topic_id"])
            for e in own
            if e.event == codec.tag_of(ReconsultationOpened)
        ]
        for topic_id in links.get("topic", []) + links["reconsultation_topics"]:
            self._aggregate(UUID(topic_id))
        for consultation_id in links.get("consultation", []):
            self._aggregate(UUID(consultation_id))
        earlier = _links_from(self._read.get(_first(links.get("topic")), []), _RECONSULTATION_OF)
        links["reconsultation_of"] = earlier.get("reconsultation_of", [])
        for outcome_id in links["reconsultation_of"]:
            self._aggregate(UUID(outcome_id))
        return links

    def _topic_links(self, own: list[Entry], topic_id: UUID) -> dict[str, list[str]]:
        links = _links_from(own, ("room_id", "room"), _RECONSULTATION_OF)
        consultation_id = consultation_id_for(topic_id)
        if self._aggregate(consultation_id):
            links["consultation"] = [str(consultation_id)]
        return links


_RECONSULTATION_OF: Final = ("reconsultation_of", "reconsultation_of")


def _aggregate_key(text: str) -> UUID | str:
    """An aggregate id from the views: a UUID, or the text the log used (non-UUID ids)."""
    try:
        return UUID(text)
    except ValueError:
        return text


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _first(ids: Sequence[str] | None) -> str:
    return ids[0] if ids else ""


def _links_from(entries: Iterable[Entry], *pairs: tuple[str, str]) -> dict[str, list[str]]:
    """Link ids named by ``field`` in any entry, under ``relation``, without duplicates."""
    links: dict[str, list[str]] = {}
    for entry in entries:
        for field_name, relation in pairs:
            value = entry.fields.get(field_name)
            if value and str(value) not in links.get(relation, []):
                links.setdefault(relation, []).append(str(value))
    return links


def parse_id(text: str, kind: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        msg = f"{kind} id {text!r} is not a UUID"
        raise HistoryError(msg) from None
