"""eventsourcing persistence module on NATS JetStream.

Select it the library's standard way::

    PERSISTENCE_MODULE=events.jetstream NATS_URL=nats://127.0.0.1:4222

and any eventsourcing ``Application`` stores its events in its own JetStream stream (see
:mod:`events.jetstream.stream_layout`). What the recorders guarantee, each checked by the server:

- the stream sequence is the notification id; an application's stream holds only its events,
  so ids are gap-free;
- optimistic concurrency per aggregate: every commit names, per aggregate, the subject
  sequence it expects to be last; a stale version writes nothing and raises ``IntegrityError``;
- atomic commits: all events of one ``insert_events`` (one or several aggregates, and a
  process application's tracking position) form one ADR-50 atomic batch;
- idempotent retry: a commit whose acknowledgement was lost is retried with the same message
  ids, and a retry that the server refuses is checked against what is stored before it is
  called a conflict; one still unresolved raises ``ResultUnknownError``, never "not stored"
  (:mod:`events.jetstream.write_errors`);
- immutability: the stream denies delete and purge, refuses roll-ups and has no limits.

NATS errors are translated into the library's PEP 249 errors where the recorders call the
connection (:meth:`events.jetstream.recorder_base.RecorderBase._run`); a commit's failure is
one of :mod:`events.jetstream.write_errors`' ``OperationalError`` subclasses, saying whether
anything may have been stored.

The package is laid out as eventsourcing's own persistence modules are: :mod:`.factory` (the
``InfrastructureFactory`` eventsourcing finds here), :mod:`.recorders` with their
:mod:`.subscription`, built on :mod:`.recorder_base` and :mod:`.commits`; the wire requests
(:mod:`.operations`, with the one paged reader of a subject range), the stream layout
(:mod:`.stream_layout`), the connection (:mod:`.connection`, the one NATS connection helper)
and its loop (:mod:`.bridge`); the bulk reader (:mod:`.bulk_reader`, :mod:`.raw_connection`,
:mod:`.reader_child`); what is stored beside the events and is not an event's
(:mod:`.quarantine`), the idempotency keys (:mod:`.idempotency_store`) and what a failed write
means (:mod:`.write_errors`). Nothing here imports ``projections``, ``replay`` or ``service``.
"""

from events.jetstream.factory import Factory, JetStreamFactory

__all__ = ["Factory", "JetStreamFactory"]
