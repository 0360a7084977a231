"""The NATS users of the service's roles and what each may publish and subscribe to.

Three roles of the service, one NATS user each, all in one account (``HSL``, JetStream
enabled)::

    service     writes the log: publishes events, checkpoints, the public feed and the
                commands' Idempotency-Key records, creates its streams; it may not
                delete or purge a stream, nor delete a message
    projector   reads the event log (direct get, ordered consumers) and nothing else
    auditor     reads the event log and the checkpoints

and one user per downstream system of the public feed (``service.nats.subscribers``), which
reads the feed through its own durable consumers only.

A NATS permission is a list of subjects a user may publish to and subscribe to; reading a
stream is publishing requests to the JetStream API (``$JS.API.…``) and receiving the replies
on an inbox. So the read-only roles may publish only to the API subjects of *their* streams
(stream info, direct get, consumer create/info/delete/next, acks and flow-control replies),
never to a subject a stream stores. Everything not allowed is denied.

Replies arrive on inboxes. The three internal roles use the client libraries' default
``_INBOX.>``; each downstream system, outside the service, is given its own prefix
(``service.nats.subscribers``, ``nats.connect(inbox_prefix=…)``) and may subscribe to nothing
else, so it cannot listen to the replies the others receive (events read by direct get
travel on those).

Nobody subscribes to a subject a stream stores. A push consumer delivers only while someone
subscribes to its delivery subject, and a reader chooses that subject when it creates one: so
no consumer of the log can be made to deliver into the public stream, or of the checkpoints
into the log (a test shows the server delivering nothing).

The roles' passwords are in ``service.nats.passwords``; ``service.nats.server_config`` writes
these permissions into a nats-server configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, get_args

from events.jetstream.stream_layout import SUBJECT_ROOT, StreamLayout
from projections.views_wire import query_subject, reply_subjects
from replay.checkpointer import checkpoint_stream, checkpoint_subject
from service.settings import NatsUser

NATS_USERS: Final[tuple[NatsUser, ...]] = get_args(NatsUser)
READ_ONLY_USERS: Final[frozenset[NatsUser]] = frozenset({"projector", "auditor"})
"""The roles that read the event log but may not create its stream (``CREATE_TABLE=no``)."""

ACCOUNT: Final = "HSL"
"""The account every user of the service belongs to (JetStream enabled)."""

EVENT_STREAM: Final = StreamLayout.for_application("hsl").stream
"""The event log's stream: ``HaoshangliangApplication.name`` is ``hsl``."""
PUBLIC_STREAM: Final = "hsl-public"
"""The stream of the public feed (integration events for downstream subscribers)."""
PUBLIC_SUBJECTS: Final = f"{SUBJECT_ROOT}.public.>"
"""The documented public subjects, e.g. ``hsl.public.outcome.adopted.<room>``."""

DEFAULT_INBOX: Final = "_INBOX"

USER_NAMES: Final[Mapping[NatsUser, str]] = {role: role for role in NATS_USERS}
"""The NATS user name of each role (the role's own name)."""


@dataclass(frozen=True)
class Streams:
    """The streams the service uses, by name (defaults: the ``hsl`` application's)."""

    events: str = EVENT_STREAM
    public: str = PUBLIC_STREAM

    @property
    def checkpoints(self) -> str:
        return checkpoint_stream(self.events)

    @property
    def event_subjects(self) -> str:
        """Every subject of the event stream: events and tracking records."""
        return StreamLayout(self.events).all_subjects

    @property
    def checkpoint_subject(self) -> str:
        return checkpoint_subject(self.events)

    @property
    def idempotency_subjects(self) -> str:
        """The key-value bucket of commands' Idempotency-Key records."""
        return f"$KV.{StreamLayout(self.events).idempotency_bucket}.>"


@dataclass(frozen=True)
class Permissions:
    """Subjects a user may (allow) and may not (deny; deny wins) publish and subscribe to."""

    publish_allow: tuple[str, ...]
    subscribe_allow: tuple[str, ...]
    publish_deny: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()


def read_stream_api(stream: str) -> tuple[str, ...]:
    """The JetStream API subjects that read ``stream`` and nothing else.

    Stream info, direct get, and consumers of that stream: create (ephemeral or named, with
    or without a filter in the subject), durable create, info, delete, list, next (pull);
    acknowledgements and flow-control replies of its consumers. Each subject names the
    stream in a fixed position, so no other stream's consumer matches.
    """
    return (
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
        f"$JS.API.CONSUMER.INFO.{stream}.*",
        f"$JS.API.CONSUMER.DELETE.{stream}.*",
        f"$JS.API.CONSUMER.NAMES.{stream}",
        f"$JS.API.CONSUMER.LIST.{stream}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    )


ACCOUNT_API: Final = ("$JS.API.INFO", "$JS.API.STREAM.NAMES")
"""Account info and stream names (no contents): what client libraries ask first."""

NEVER_REMOVE: Final = (
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.RESTORE.>",
)
"""Denied even to the service: no user of this configuration removes or rewrites the log.

The streams deny delete and purge themselves; these denials also keep a stream from being
deleted whole, or reconfigured, with the service's credentials. Changing a stream is an
operator's act with a user added for it (docs/operations.md).
"""


def role_permissions(role: NatsUser, streams: Streams | None = None) -> Permissions:
    """What ``role`` may publish and subscribe to."""
    s = streams or Streams()
    if role == "service":
        return Permissions(
            publish_allow=(
                s.event_subjects,
                s.checkpoint_subject,
                s.idempotency_subjects,
                PUBLIC_SUBJECTS,
                "$JS.API.>",
                "$JS.ACK.>",
                "$JS.FC.>",
                query_subject(s.events),  # the API asks the projector for view reads
                # and `hsl serve`'s own projector answers them for other API processes
                reply_subjects(s.events),
            ),
            publish_deny=NEVER_REMOVE,
            subscribe_allow=(
                f"{DEFAULT_INBOX}.>",
                reply_subjects(s.events),
                query_subject(s.events),
            ),
        )
    if role == "projector":
        return Permissions(
            # and answers the API's view reads (projections.query_service), on their own
            # reply subjects only: never on another user's _INBOX
            publish_allow=(*ACCOUNT_API, *read_stream_api(s.events), reply_subjects(s.events)),
            subscribe_allow=(f"{DEFAULT_INBOX}.>", query_subject(s.events)),
        )
    if role == "auditor":
        return Permissions(
            publish_allow=(
                *ACCOUNT_API,
                *read_stream_api(s.events),
                *read_stream_api(s.checkpoints),
            ),
            subscribe_allow=(f"{DEFAULT_INBOX}.>",),
        )
    msg = f"unknown role {role!r}; roles are {', '.join(NATS_USERS)}"
    raise ValueError(msg)
