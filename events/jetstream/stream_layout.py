"""Where an application's events live on JetStream: stream, subjects, headers, configuration.

One stream per application; within it, one subject per aggregate, so that reading one
aggregate touches only its subject and optimistic concurrency is the server's per-subject
"expected last sequence" check::

    stream   <Name>                          (the application's name, sanitised)
    subjects hsl.<Name>.events.<aggregate>   one per aggregate; <aggregate> is the UUID,
                                             or "s-" + base64url(utf-8) for a string id
             hsl.<Name>.tracking.<Upstream>  positions of a process application (if any)

The message payload is the stored event's state, unchanged. The headers carry what
eventsourcing's ``StoredEvent`` holds beside it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from urllib.parse import quote, unquote
from uuid import UUID

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

SUBJECT_ROOT = "hsl"

ORIGINATOR_ID = "Hsl-Originator-Id"
"""Header: the aggregate's id as text (percent-encoded where not ASCII)."""
ORIGINATOR_VERSION = "Hsl-Originator-Version"
"""Header: the aggregate's version that this event brings it to."""
TOPIC = "Hsl-Topic"
"""Header: the event's topic (its type name), as eventsourcing's mapper wrote it."""
TRACKING_ID = "Hsl-Tracking-Notification-Id"
"""Header: on a tracking message, the upstream notification id it records."""

DUPLICATE_WINDOW = timedelta(minutes=2)
"""How long the server remembers message ids, i.e. how late a lost-ack retry may come."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def sanitise_name(name: str) -> str:
    """Turn an application name into a valid stream name and subject token."""
    cleaned = _UNSAFE.sub("_", name.strip())
    return cleaned or "default"


def aggregate_token(originator_id: UUID | str) -> str:
    """The subject token of one aggregate: its UUID, or an encoded string id."""
    if isinstance(originator_id, UUID):
        return str(originator_id)
    encoded = base64.urlsafe_b64encode(originator_id.encode()).rstrip(b"=").decode()
    return f"s-{encoded}"


def originator_id_from_token(token: str) -> UUID | str:
    """Invert :func:`aggregate_token`, restoring the id's type (UUID or str)."""
    if token.startswith("s-"):
        raw = token[2:]
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    return UUID(token)


@lru_cache(maxsize=4096)
def encode_header_text(text: str) -> str:
    """Header values must be ASCII without line breaks: percent-encode the rest."""
    return quote(text, safe="")


def decode_header_text(text: str) -> str:
    return unquote(text)


@dataclass(frozen=True)
class StreamLayout:
    """The stream and subjects of one application."""

    stream: str
    replicas: int = 1

    @classmethod
    def for_application(cls, name: str, replicas: int = 1) -> StreamLayout:
        return cls(stream=sanitise_name(name), replicas=replicas)

    @property
    def prefix(self) -> str:
        return f"{SUBJECT_ROOT}.{self.stream}"

    @property
    def all_subjects(self) -> str:
        return f"{self.prefix}.>"

    @property
    def events_filter(self) -> str:
        """Matches every event of the application, and nothing else in its stream."""
        return f"{self.prefix}.events.*"

    @property
    def idempotency_bucket(self) -> str:
        """The key-value bucket of commands' Idempotency-Key records (not part of the log)."""
        return f"{self.stream}_idempotency"

    def event_subject(self, originator_id: UUID | str) -> str:
        return f"{self.prefix}.events.{aggregate_token(originator_id)}"

    def tracking_subject(self, upstream_application: str) -> str:
        return f"{self.prefix}.tracking.{sanitise_name(upstream_application)}"

    def originator_id_of(self, subject: str) -> UUID | str:
        """The aggregate id that an event subject names."""
        return originator_id_from_token(subject.rsplit(".", 1)[1])

    def stream_config(self) -> StreamConfig:
        """The application's immutable event stream (:func:`immutable_stream_config`)."""
        return immutable_stream_config(
            self.stream,
            [self.all_subjects],
            "haoshangliang event log (immutable)",
            self.replicas,
        )


def immutable_stream_config(
    name: str, subjects: list[str], description: str, replicas: int = 1
) -> StreamConfig:
    """An immutable, unlimited stream that accepts atomic batches.

    Delete and purge are denied and roll-up headers refused, so the server itself keeps
    every message; no age, count or size limit ever removes one. The event log, its
    checkpoints and the public feed are all kept this way.
    """
    return StreamConfig(
        name=name,
        description=description,
        subjects=subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msgs_per_subject=-1,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        allow_direct=True,
        allow_atomic=True,
    )


def immutability_faults(config: StreamConfig) -> list[str]:
    """What, in an existing stream's configuration, would let an event be removed or edited."""
    faults = []
    if not config.deny_delete:
        faults.append("delete is allowed")
    if not config.deny_purge:
        faults.append("purge is allowed")
    if config.allow_rollup_hdrs:
        faults.append("roll-up headers are allowed")
    for name in ("max_msgs", "max_bytes", "max_msgs_per_subject"):
        value = getattr(config, name)
        if value not in (None, -1):
            faults.append(f"{name}={value}")
    if config.max_age not in (None, 0):
        faults.append(f"max_age={config.max_age}")
    if not config.allow_atomic:
        faults.append("atomic batch publish is not allowed")
    if not config.allow_direct:
        faults.append("direct get is not allowed")
    return faults
