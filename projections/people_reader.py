"""The rebuild's log reader child, which also finds the people each page's events concern.

``python -m projections.people_reader`` is ``events.jetstream.reader_child``'s program with a
page hook: beside reading, it decodes each page's payloads a second time, into
:data:`projections.people.LIGHT_EVENTS` (the actor and the fields naming people, nothing
else), and sends the page's ``person_acts`` rows along as an Arrow table. The folding process
then only appends them: a 1M-event rebuild spent ~1 s of its busiest thread's time, and its
writer thread as much, building those 2.2 million rows in Python.

The rows are the live path's (``projections.appliers._indexed``), made by the same readers
(``PEOPLE``, ``named_people``) on Structs with the same attribute names. The folding process
takes them only for a page it decoded in one call itself
(``projections.page_decoding.decode_page``): every event of its topic's type, at its current
schema version. Any other page (an event to
upcast, one to refuse) is indexed there from the decoded events, as are pages read in-process.
"""

from __future__ import annotations

import sys
from typing import Any, Final, Union

import msgspec
import pyarrow as pa

from events.jetstream.bulk_reader import Page
from events.jetstream.reader_child import run_child
from projections.people import ACTOR, LIGHT_EVENTS, PEOPLE, NamedColumns

_ANY_LIGHT_EVENT: Any = Union[LIGHT_EVENTS]  # noqa: UP007 - a union of a tuple of types
_DECODER: Final = msgspec.json.Decoder(list[_ANY_LIGHT_EVENT])
"""One decoder for a page's JSON array, by the events' ``type`` tag."""

_TEXT: Final = pa.string()


def person_acts_of(page: Page) -> bytes | None:
    """The page's ``person_acts`` rows as an Arrow IPC stream, or None if it cannot say.

    None for a page with a message to quarantine (an unknown or foreign topic): the folding
    process indexes such a page itself, from the events it keeps.
    """
    if not PEOPLE.keys() >= set(page.topics):
        return None
    try:
        events: list[Any] = _DECODER.decode(page.payloads)
    except msgspec.MsgspecError:
        return None
    if len(events) != len(page.ids) or any(
        type(event).__struct_config__.tag != topic
        for event, topic in zip(events, page.topics, strict=True)
    ):
        return None
    named = NamedColumns()
    named.add(page.topics, events)
    count = len(events)
    # The event of each row, by its position in the page: the actors', then the named ones'.
    at = _positions(count)
    relations = pa.repeat(ACTOR, count)
    if named.positions:
        at = pa.concat_arrays([at, pa.array(named.positions, type=pa.int32())])
        relations = pa.concat_arrays([relations, pa.array(named.relations, type=_TEXT)])
    rows = pa.Table.from_arrays(
        [
            pa.array([event.actor.id for event in events] + named.persons, type=_TEXT),
            relations.dictionary_encode(),
            pa.DictionaryArray.from_arrays(at, pa.array(page.topics, type=_TEXT)),
            pa.DictionaryArray.from_arrays(at, pa.array(page.originator_ids, type=_TEXT)),
            pa.array(page.ids, type=pa.int64()).take(at),
        ],
        names=["person_id", "relation", "event_type", "aggregate_id", "seq"],
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as stream:
        stream.write_table(rows)
    return bytes(sink.getvalue().to_pybytes())


_counting: list[pa.Array] = [pa.array([], type=pa.int32())]


def _positions(count: int) -> pa.Array:
    """0 … count - 1 as Arrow: a slice of one array made once (from a ``range`` each page,
    ~1 ms), grown when a longer page comes."""
    if len(_counting[0]) < count:
        _counting[0] = pa.array(range(count), type=pa.int32())
    return _counting[0].slice(0, count)


def person_acts(annex: bytes) -> pa.Table:
    """The rows :func:`person_acts_of` sent (read in place, not copied)."""
    return pa.ipc.open_stream(annex).read_all()


if __name__ == "__main__":
    run_child(sys.argv[1:], annex=person_acts_of)
