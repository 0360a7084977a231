"""Who an event concerns: its actor, and every person or unit it names.

For ``person_acts``, the index behind ``hsl replay person ID``: from a person to the events
(and so the aggregates, one JetStream subject each) that concern them, without reading the whole
stream. Found from the event Structs' own annotations, once per event type: a field typed
``PersonId``, a ``Person``-like Struct (one with an ``id: PersonId``), or a list of those.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Final, Literal

import msgspec

from events.codec import EVENT_TYPES
from events.common import BaseEvent, PersonId

Reader = Callable[[Any], list[str]]

ACTOR: Final = "actor"
"""The relation of the person who did the act; other relations are the naming field's name."""


Shape = Literal["id", "person", "people", "ids"]
"""How a field names people: one ``PersonId``, one ``Person``-like Struct, a list of those
Structs, or a list of ids."""


@cache
def naming_fields(cls: type[BaseEvent]) -> tuple[tuple[str, Shape], ...]:
    """(field name, shape) for every field of ``cls`` naming people, in the Struct's order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    found: list[tuple[str, Shape]] = []
    for name in cls.__struct_fields__:
        shape = None if name == ACTOR else _shape(hints[name])
        if shape is not None:
            found.append((name, shape))
    return tuple(found)


@cache
def people_readers(cls: type[BaseEvent]) -> tuple[tuple[str, Reader], ...]:
    """(field name, reader of the ids it holds) for every field of ``cls`` naming people."""
    return tuple((name, _reader(name, shape)) for name, shape in naming_fields(cls))


def _shape(hint: Any) -> Shape | None:
    if _is_person_id(hint):
        return "id"
    if typing.get_origin(hint) is typing.Annotated:  # constraints on a list, say
        hint = typing.get_args(hint)[0]
    if _is_person(hint):
        return "person"
    if typing.get_origin(hint) in (list, tuple):
        args = typing.get_args(hint)
        if args and _is_person(args[0]):
            return "people"
        if args and _is_person_id(args[0]):
            return "ids"
    return None


def _reader(name: str, shape: Shape) -> Reader:
    if shape == "id":
        return lambda e: [getattr(e, name)]
    if shape == "person":
        return lambda e: [getattr(e, name).id]
    if shape == "people":
        return lambda e: [p.id for p in getattr(e, name)]
    return lambda e: list(getattr(e, name))


_PERSON_ID_META: Final[tuple[Any, ...]] = typing.get_args(PersonId)[1:]


def _is_person_id(hint: Any) -> bool:
    """``PersonId``, or ``PersonId`` with more said about it: ``Annotated[PersonId,
    Meta(description=…)]``, which ``get_type_hints`` flattens into one ``Annotated``."""
    if typing.get_origin(hint) is not typing.Annotated or typing.get_args(hint)[0] is not str:
        return False
    metadata = typing.get_args(hint)[1:]
    return bool(metadata[: len(_PERSON_ID_META)] == _PERSON_ID_META)


def _is_person(hint: Any) -> bool:
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if not (isinstance(hint, type) and issubclass(hint, msgspec.Struct)):
        return False
    fields = typing.get_type_hints(hint, include_extras=True)
    return _is_person_id(fields.get("id"))


PEOPLE: Final[dict[str, tuple[tuple[str, Reader], ...]]] = {
    tag: people_readers(cls) for tag, cls in EVENT_TYPES.items()
}
"""Per event tag, the fields naming people besides the actor: (relation, reader of the ids)."""


class NamedColumns:
    """The people events name, as columns: id, relation, and the naming event's position.

    The rebuild's columnar form of the live path's rows (``projections.appliers._indexed``),
    for its fold (``projections.fold.Fold.index_people``) and its reader child
    (``projections.people_reader``, on :data:`LIGHT_EVENTS`).
    """

    __slots__ = ("persons", "positions", "relations")

    def __init__(self) -> None:
        self.persons: list[str] = []
        self.relations: list[str] = []
        self.positions: list[int] = []

    def add(self, tags: Sequence[str], events: Sequence[Any], first: int = 0) -> None:
        """Add the people ``events`` name; their positions count from ``first``."""
        persons, relations, positions = self.persons, self.relations, self.positions
        for position, (tag, event) in enumerate(zip(tags, events, strict=True), start=first):
            readers = PEOPLE[tag]
            if readers:
                for relation, found in named_people(readers, event):
                    persons += found
                    if len(found) == 1:
                        relations.append(relation)
                        positions.append(position)
                    else:
                        relations += [relation] * len(found)
                        positions += [position] * len(found)


class _LightPerson(msgspec.Struct):
    id: str


_LIGHT_SHAPES: Final[dict[Shape, Any]] = {
    "id": str,
    "person": _LightPerson,
    "people": list[_LightPerson],
    "ids": list[str],
}


def _light(cls: type[BaseEvent]) -> type[msgspec.Struct]:
    """``cls`` reduced to its actor and the fields naming people, ids as plain text.

    Attribute names and shapes as in ``cls``, so the same readers (:data:`PEOPLE`) read it;
    every other field of a payload is skipped by the decoder, which is what makes it cheap.
    """
    keys = dict(zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True))
    fields: list[tuple[str, Any, Any]] = [(ACTOR, _LightPerson, msgspec.field(name=keys[ACTOR]))]
    for name, shape in naming_fields(cls):
        fields.append((name, _LIGHT_SHAPES[shape], msgspec.field(name=keys[name])))
    config = cls.__struct_config__
    return msgspec.defstruct(
        f"Light{cls.__name__}", fields, tag=config.tag, tag_field=config.tag_field
    )


LIGHT_EVENTS: Final[tuple[type[msgspec.Struct], ...]] = tuple(
    _light(cls) for cls in EVENT_TYPES.values()
)
"""Per event type, a Struct of its actor and the fields naming people, for a decoder that
reads only those (``projections.people_reader``)."""


def named_people(named: tuple[tuple[str, Reader], ...], event: Any) -> list[tuple[str, list[str]]]:
    """``(relation, person ids)`` for each naming field, each id once per relation.

    The actor's row has the relation ``actor``, which no field is called, so it never
    collides with these. One definition for the live path (``projections.appliers``) and the
    rebuild's columnar path (``projections.fold.Fold.index_people``).
    """
    found = []
    for relation, read in named:
        ids = read(event)
        if len(ids) > 1 and len(set(ids)) != len(ids):
            ids = list(dict.fromkeys(ids))
        found.append((relation, ids))
    return found
