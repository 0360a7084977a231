"""The downstream systems of the public feed: one NATS user each, managing only its own consumers.

A single shared subscriber user could delete, or re-create with another filter, any other
system's durable consumer on the public stream, losing that system's place in the feed. So
each downstream system (a dashboard, a notification service, an app) has its own user,
``subscriber-<NAME>``, which may:

- create, inspect, follow, acknowledge and delete the durable consumers granted to it: the one
  named ``NAME``, and any other name listed for it (NATS permissions match whole subject
  tokens and a consumer's name is one token of each consumer API subject, so the names are
  listed, not matched by prefix);
- receive on its own inbox, ``_INBOX_hsl_subscriber.<NAME>.>`` (``nats.connect(...,
  inbox_prefix=Subscriber.inbox_prefix)``), where its replies and deliveries arrive; no other
  system can listen there, nor learn its acknowledgement subjects.

It may not list the stream's consumers (that would show the others' names and positions),
create a consumer without naming it in the subject (the name would sit in the request's body,
where a permission cannot see it), read the event log or the checkpoints.

Where the users are declared: on the embedded server in ``<data_dir>/nats/users.json`` beside
the roles' passwords (``hsl subscribers add NAME``, ``service.nats.embedded``); for compose in
``deploy/nats/subscribers.txt`` (``NAME [DURABLE …]`` a line), rendered into
``deploy/nats/accounts.conf`` with each password a reference to
``HSL_NATS_SUBSCRIBER_<NAME>_PASSWORD`` (``service.nats.compose_config``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from events.jetstream.connection import with_credentials
from service.nats.passwords import NatsUsersError, Password, check_password, generate_password
from service.nats.permissions import ACCOUNT_API, Permissions, Streams
from service.nats.server_config import UserEntry

SUBSCRIBER_INBOX_ROOT: Final = "_INBOX_hsl_subscriber"
"""Each downstream system's inbox is ``<this>.<NAME>`` (:attr:`Subscriber.inbox_prefix`)."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DURABLE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SubscriberError(NatsUsersError):
    """A downstream system's name, durable or entry that cannot be used; the message says which."""


@dataclass(frozen=True)
class Subscriber:
    """One downstream system: its name, the durable consumers it may keep, its password."""

    name: str
    durables: tuple[str, ...]
    """``name`` first, then the others granted to it."""
    password: Password = field(default="", repr=False)

    @classmethod
    def of(cls, name: str, durables: Sequence[str] = (), password: Password = "") -> Subscriber:
        """Checked: :class:`SubscriberError` names the name or durable that cannot be used."""
        if not _NAME.fullmatch(name):
            msg = (
                f"downstream system name {name!r}: use 1-32 lower-case letters, digits and "
                "'_', starting with a letter"
            )
            raise SubscriberError(msg)
        for durable in durables:
            check_durable_name(durable)
        return cls(name=name, durables=tuple(dict.fromkeys((name, *durables))), password=password)

    @classmethod
    def generate(cls, name: str, durables: Sequence[str] = ()) -> Subscriber:
        """A new downstream system with a fresh random password."""
        return cls.of(name, durables, generate_password())

    @property
    def user(self) -> str:
        """Its NATS user name."""
        return f"subscriber-{self.name}"

    @property
    def inbox_prefix(self) -> str:
        """The only inbox it may use: ``nats.connect(..., inbox_prefix=this)``."""
        return f"{SUBSCRIBER_INBOX_ROOT}.{self.name}"

    @property
    def password_variable(self) -> str:
        """Where compose's nats-server finds its password."""
        return f"HSL_NATS_SUBSCRIBER_{self.name.upper()}_PASSWORD"

    def url(self, servers: str) -> str:
        """``servers`` with its credentials: for connecting only, never for showing."""
        if not isinstance(self.password, str):
            msg = f"the password of {self.user} is {self.password.variable}, not known here"
            raise SubscriberError(msg)
        return with_credentials(servers, self.user, self.password)

    def entry(self, streams: Streams | None = None) -> UserEntry:
        """Its user, for the server's configuration."""
        return UserEntry(
            user=self.user,
            password=self.password,
            permissions=subscriber_permissions(self, streams),
            comment=f"downstream system {self.name}",
        )


def check_durable_name(name: str) -> str:
    """``name`` if it can name a durable consumer (one subject token); else an error."""
    if not _DURABLE.fullmatch(name):
        msg = f"durable name {name!r}: use 1-64 letters, digits, '_' or '-'"
        raise SubscriberError(msg)
    return name


def consumer_api(stream: str, durable: str) -> tuple[str, ...]:
    """The JetStream API subjects that create, inspect, follow, ack and delete one consumer.

    Named forms only: the unnamed create (``$JS.API.CONSUMER.CREATE.<stream>``) carries the
    consumer's name in its body, where a permission cannot see it.
    """
    return (
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.DELETE.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
        f"$JS.FC.{stream}.{durable}.>",
    )


def subscriber_permissions(subscriber: Subscriber, streams: Streams | None = None) -> Permissions:
    """What one downstream system may publish and subscribe to."""
    s = streams or Streams()
    return Permissions(
        publish_allow=(
            *ACCOUNT_API,
            f"$JS.API.STREAM.INFO.{s.public}",
            *(subject for d in subscriber.durables for subject in consumer_api(s.public, d)),
        ),
        # Not the public subjects: a core subscription there would give a push consumer that
        # another user points at hsl.public.… the interest it needs to deliver, and the
        # public stream would then store what that consumer delivers.
        subscribe_allow=(f"{subscriber.inbox_prefix}.>",),
    )


# --- users.json (the embedded server) --------------------------------------------------------


def from_document(listed: object, where: str) -> tuple[Subscriber, ...]:
    """The ``subscribers`` object of ``users.json``: ``{NAME: {password, durables}}``."""
    if listed is None:
        return ()  # a file from before the downstream systems had users
    if not isinstance(listed, Mapping):
        raise SubscriberError(f"{where}: 'subscribers' is not an object")
    found = []
    for name, fields in listed.items():
        entry = fields if isinstance(fields, Mapping) else {}
        password = entry.get("password")
        durables = entry.get("durables", [])
        if not isinstance(durables, list) or not all(isinstance(d, str) for d in durables):
            raise SubscriberError(f"{where}: subscriber {name!r}: 'durables' is not a list")
        text = password if isinstance(password, str) else ""
        check_password(text, f"{where}: subscriber {name!r}")
        try:
            found.append(Subscriber.of(str(name), durables, text))
        except SubscriberError as e:
            raise SubscriberError(f"{where}: {e}") from None
    return tuple(sorted(found, key=lambda s: s.name))


def to_document(subscribers: Sequence[Subscriber]) -> dict[str, dict[str, object]]:
    """What :func:`from_document` reads back."""
    return {
        s.name: {"password": s.password, "durables": list(s.durables)}
        for s in sorted(subscribers, key=lambda s: s.name)
    }
