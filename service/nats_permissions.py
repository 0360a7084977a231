"""NATS users and what each may do: rendered as a nats-server configuration block.

Three roles of the service, one NATS user each, all in one account (``HSL``, JetStream
enabled)::

    service     writes the log: publishes events, checkpoints, the public feed and the
                commands' Idempotency-Key records, creates its streams; it may not
                delete or purge a stream, nor delete a message
    projector   reads the event log (direct get, ordered consumers) and nothing else
    auditor     reads the event log and the checkpoints

and one user per downstream system of the public feed (``service.subscribers``), which
reads the feed through its own durable consumers only; the rendering here takes those users
as :class:`UserEntry` values.

A NATS permission is a list of subjects a user may publish to and subscribe to; reading a
stream is publishing requests to the JetStream API (``$JS.API.…``) and receiving the replies
on an inbox. So the read-only roles may publish only to the API subjects of *their* streams
(stream info, direct get, consumer create/info/delete/next, acks and flow-control replies),
never to a subject a stream stores. Everything not allowed is denied.

Replies arrive on inboxes. The three internal roles use the client libraries' default
``_INBOX.>``; each downstream system, outside the service, is given its own prefix
(``service.subscribers``, ``nats.connect(inbox_prefix=…)``) and may subscribe to nothing
else, so it cannot listen to the replies the others receive (events read by direct get
travel on those).

Nobody subscribes to a subject a stream stores. A push consumer delivers only while someone
subscribes to its delivery subject, and a reader chooses that subject when it creates one: so
no consumer of the log can be made to deliver into the public stream, or of the checkpoints
into the log (a test shows the server delivering nothing).

:func:`render_accounts` writes the ``accounts`` block. For compose the passwords are
references to environment variables that nats-server resolves itself when it reads the file
(``deploy/nats/accounts.conf`` is that rendering, committed; a test keeps the two equal, and
``python -m service.nats_permissions`` rewrites it). For a server started from the bundled
binary (tests, or the embedded server as an option, see :func:`write_auth_config`), they are
the passwords themselves, read by :meth:`NatsUsers.from_env`.

The embedded server (``NATS_URL`` unset, ``service.embedded``) runs with these users too: its
passwords are made at random on its first start and kept in ``<data_dir>/nats/users.json``
(owner-only), and it declares the users in its global account
(:func:`render_authorization`) so that a store from before it had users stays readable.

Clients pass their credentials in ``NATS_URL``: ``nats://service:PASSWORD@host:4222``
(:func:`events.jetstream.connection.with_credentials`). Passwords must therefore be URL-safe
as they are (letters, digits, ``-``, ``_``): nats-py does not percent-decode the URL's
password. They must also
start with a letter: nats-server parses a variable's value as a configuration value, so one
starting with a digit or ``-`` is read as a (malformed) number.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, get_args

from events.jetstream.connection import with_credentials
from events.jetstream.stream_layout import SUBJECT_ROOT, StreamLayout
from events.redact import SECRETS, redact_url
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

PASSWORD_VARIABLES: Final[Mapping[NatsUser, str]] = {
    "service": "HSL_NATS_SERVICE_PASSWORD",
    "projector": "HSL_NATS_PROJECTOR_PASSWORD",
    "auditor": "HSL_NATS_AUDITOR_PASSWORD",
}
"""The environment variable holding each role's password (nats-server and ``hsl`` read it)."""

USER_NAMES: Final[Mapping[NatsUser, str]] = {role: role for role in NATS_USERS}
"""The NATS user name of each role (the role's own name)."""

_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{15,}")
MIN_PASSWORD_LENGTH: Final = 16

COMPOSE_ACCOUNTS_FILE: Final = Path(__file__).resolve().parent.parent / "deploy/nats/accounts.conf"
"""The committed rendering used by compose.yaml (passwords as ``$HSL_NATS_…`` references)."""


class NatsUsersError(ValueError):
    """A password is missing or unusable; the message names the variable."""


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


# --- passwords -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvReference:
    """A password nats-server reads from its own environment when it loads the file."""

    variable: str


Password = str | EnvReference


@dataclass(frozen=True)
class UserEntry:
    """A user beyond the roles (a downstream system's): name, password and permissions."""

    user: str
    password: Password = field(repr=False)
    permissions: Permissions
    comment: str


@dataclass(frozen=True)
class NatsUsers:
    """The password of each role, read from ``HSL_NATS_<ROLE>_PASSWORD``."""

    passwords: Mapping[NatsUser, str] = field(repr=False)

    def __post_init__(self) -> None:
        # Every password this process holds is known to the log redactor (events.redact).
        SECRETS.remember(*self.passwords.values())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NatsUsers:
        """Read every role's password; raise :class:`NatsUsersError` naming what is wrong."""
        env = os.environ if environ is None else environ
        passwords: dict[NatsUser, str] = {}
        for role in NATS_USERS:
            variable = PASSWORD_VARIABLES[role]
            value = env.get(variable, "").strip()
            check_password(value, variable)
            passwords[role] = value
        return cls(passwords=passwords)

    @classmethod
    def generate(cls) -> NatsUsers:
        """A fresh random password for every role (the embedded server's, made on first start)."""
        return cls(passwords={role: generate_password() for role in NATS_USERS})

    @classmethod
    def from_mapping(cls, passwords: Mapping[str, object], where: str) -> NatsUsers:
        """Every role's password from ``{role: password}`` (a users file), each checked.

        Other keys are ignored: a file from before the downstream systems' users also holds
        the password of the one shared ``subscriber`` user they replace.
        """
        checked: dict[NatsUser, str] = {}
        for role in NATS_USERS:
            value = passwords.get(role)
            text = value if isinstance(value, str) else ""
            check_password(text, f"{where}: {role!r}")
            checked[role] = text
        return cls(passwords=checked)

    def url(self, role: NatsUser, servers: str) -> str:
        """``servers`` (one URL, or comma-separated) with this role's credentials."""
        return with_credentials(servers, USER_NAMES[role], self.passwords[role])


def check_password(value: str, variable: str) -> None:
    if not value:
        msg = f"{variable} is not set"
        raise NatsUsersError(msg)
    if not _PASSWORD.fullmatch(value):
        msg = (
            f"{variable} must be at least {MIN_PASSWORD_LENGTH} characters of A-Z a-z 0-9 - _, "
            "starting with a letter (`python -m service.nats_permissions --passwords` makes some)"
        )
        raise NatsUsersError(msg)


def env_references() -> dict[NatsUser, Password]:
    """Every role's password as a reference to its environment variable (for compose)."""
    return {role: EnvReference(PASSWORD_VARIABLES[role]) for role in NATS_USERS}


redact = redact_url
"""``servers`` with every password (or token) replaced by ``***``, for printing and logs."""


# --- rendering -------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _subjects(subjects: Sequence[str]) -> str:
    return "[" + ", ".join(_quote(s) for s in subjects) + "]"


def _password(password: Password) -> str:
    if isinstance(password, EnvReference):
        return f"${password.variable}"
    return _quote(password)


def _permission_map(allow: Sequence[str], deny: Sequence[str], indent: str) -> list[str]:
    lines = [f"{indent}  allow: {_subjects(allow)}"]
    if deny:
        lines.append(f"{indent}  deny: {_subjects(deny)}")
    return lines


def render_user(role: NatsUser, password: Password, streams: Streams | None = None) -> str:
    """One entry of the account's ``users`` list."""
    return render_entry(
        UserEntry(USER_NAMES[role], password, role_permissions(role, streams), comment=role)
    )


def _render_users(
    passwords: Mapping[NatsUser, Password], streams: Streams | None, extra: Sequence[UserEntry]
) -> str:
    roles = [render_user(role, passwords[role], streams) for role in NATS_USERS]
    return "\n".join([*roles, *(render_entry(entry) for entry in extra)])


def render_entry(entry: UserEntry) -> str:
    """One entry of a ``users`` list."""
    p = entry.permissions
    i = " " * 8
    lines = [
        f"      {{ # {entry.comment}",
        f"{i}user: {_quote(entry.user)}",
        f"{i}password: {_password(entry.password)}",
        f"{i}permissions: {{",
        f"{i}  publish: {{",
        *_permission_map(p.publish_allow, p.publish_deny, i + "  "),
        f"{i}  }}",
        f"{i}  subscribe: {{",
        *_permission_map(p.subscribe_allow, p.subscribe_deny, i + "  "),
        f"{i}  }}",
        f"{i}}}",
        "      }",
    ]
    return "\n".join(lines)


def render_accounts(
    passwords: Mapping[NatsUser, Password] | None = None,
    streams: Streams | None = None,
    extra: Sequence[UserEntry] = (),
) -> str:
    """The nats-server ``accounts`` block: account ``HSL`` with JetStream and its users.

    ``passwords`` defaults to references to the ``HSL_NATS_<ROLE>_PASSWORD`` variables, which
    nats-server resolves from its environment (and refuses to start if one is unset).
    ``extra``: the downstream systems' users (``service.subscribers``).
    """
    chosen = env_references() if passwords is None else passwords
    users = _render_users(chosen, streams, extra)
    return (
        "# Generated by `python -m service.nats_permissions` (service/nats_permissions.py);\n"
        "# do not edit: a test checks that this file equals the rendering.\n"
        "accounts {\n"
        f"  {ACCOUNT} {{\n"
        "    jetstream: enabled\n"
        "    users: [\n"
        f"{users}\n"
        "    ]\n"
        "  }\n"
        "}\n"
    )


def render_authorization(
    passwords: Mapping[NatsUser, Password],
    streams: Streams | None = None,
    extra: Sequence[UserEntry] = (),
) -> str:
    """The same users and permissions in the server's global account (the embedded server).

    The embedded server's JetStream store may predate its users: its streams then live in
    the global account, where a server without accounts keeps them. Declaring the users here
    rather than in an account ``HSL`` keeps such a store readable as it is, with nothing to
    move (docs/operations.md).
    """
    users = _render_users(passwords, streams, extra)
    return (
        "# Written by hsl at every start of the embedded server (service/embedded.py), from\n"
        "# users.json beside it; do not edit: the next start rewrites it.\n"
        "authorization {\n"
        "    users: [\n"
        f"{users}\n"
        "    ]\n"
        "}\n"
    )


def write_auth_config(
    users: NatsUsers,
    directory: Path,
    streams: Streams | None = None,
    *,
    global_account: bool = False,
    extra: Sequence[UserEntry] = (),
) -> Path:
    """Write ``auth.conf`` (owner-only) with the users and their passwords; return its path.

    For a server started from the bundled binary: pass ``["--config", str(path)]`` in
    ``NatsServerProcess.extra_args`` (its ``--jetstream`` and store flags still apply).
    ``global_account``: the users in the server's global account (:func:`render_authorization`,
    the embedded server) instead of account ``HSL`` (:func:`render_accounts`, as compose).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "auth.conf"
    passwords = dict(users.passwords)
    text = (
        render_authorization(passwords, streams, extra)
        if global_account
        else render_accounts(passwords, streams, extra)
    )
    write_private(path, text)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # O_CREAT's mode misses a file left by a crash
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def server_args(
    users: NatsUsers,
    directory: Path,
    streams: Streams | None = None,
    *,
    global_account: bool = False,
    extra: Sequence[UserEntry] = (),
) -> list[str]:
    """Arguments that start a bundled ``nats-server`` with these users.

    ``NatsServerProcess(store_dir=..., extra_args=server_args(users, nats_dir))``: the
    server keeps its command-line JetStream, store and loopback settings and takes the users
    from ``<directory>/auth.conf``: in account ``HSL`` as compose has them, or with
    ``global_account`` in the global account, as the embedded server does
    (``service.embedded``, with the passwords of ``<data_dir>/nats/users.json``).
    """
    path = write_auth_config(users, directory, streams, global_account=global_account, extra=extra)
    return ["--config", str(path)]


def generate_password() -> str:
    """A fresh password that :func:`check_password` accepts (192 random bits)."""
    return "hsl" + secrets.token_hex(24)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite ``deploy/nats/accounts.conf``; ``--check`` compares instead of writing;
    ``--passwords`` prints fresh ``HSL_NATS_…_PASSWORD=…`` lines for an ``.env`` file.
    """
    from service import subscribers  # noqa: PLC0415 - it imports this module

    args = list(sys.argv[1:] if argv is None else argv)
    if "--passwords" in args:
        for variable in subscribers.compose_password_variables():
            print(f"{variable}={generate_password()}")
        return 0
    rendered = subscribers.compose_accounts()
    if "--check" in args:
        same = COMPOSE_ACCOUNTS_FILE.is_file() and COMPOSE_ACCOUNTS_FILE.read_text() == rendered
        print(f"{COMPOSE_ACCOUNTS_FILE}: {'up to date' if same else 'differs from the rendering'}")
        return 0 if same else 1
    COMPOSE_ACCOUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    COMPOSE_ACCOUNTS_FILE.write_text(rendered)
    print(f"wrote {COMPOSE_ACCOUNTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
