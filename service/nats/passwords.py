"""The roles' NATS passwords: read from the environment or a users file, made, checked.

For compose the passwords are references to environment variables that nats-server resolves
itself when it reads its configuration (:class:`EnvReference`); for a server started from the
bundled binary (tests, the embedded server) they are the passwords themselves
(:class:`NatsUsers`, read by :meth:`NatsUsers.from_env` or from the embedded server's
``users.json``).

Clients pass their credentials in ``NATS_URL``: ``nats://service:PASSWORD@host:4222``
(:func:`events.jetstream.connection.with_credentials`). Passwords must therefore be URL-safe
as they are (letters, digits, ``-``, ``_``): nats-py does not percent-decode the URL's
password. They must also start with a letter: nats-server parses a variable's value as a
configuration value, so one starting with a digit or ``-`` is read as a (malformed) number.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from events.jetstream.connection import with_credentials
from events.redact import SECRETS, redact_url
from service.nats.permissions import NATS_USERS, USER_NAMES
from service.settings import NatsUser

PASSWORD_VARIABLES: Final[Mapping[NatsUser, str]] = {
    "service": "HSL_NATS_SERVICE_PASSWORD",
    "projector": "HSL_NATS_PROJECTOR_PASSWORD",
    "auditor": "HSL_NATS_AUDITOR_PASSWORD",
}
"""The environment variable holding each role's password (nats-server and ``hsl`` read it)."""

_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{15,}")
MIN_PASSWORD_LENGTH: Final = 16


class NatsUsersError(ValueError):
    """A password is missing or unusable; the message names the variable."""


@dataclass(frozen=True)
class EnvReference:
    """A password nats-server reads from its own environment when it loads the file."""

    variable: str


Password = str | EnvReference


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
            "starting with a letter "
            "(`python -m service.nats.compose_config --passwords` makes some)"
        )
        raise NatsUsersError(msg)


def env_references() -> dict[NatsUser, Password]:
    """Every role's password as a reference to its environment variable (for compose)."""
    return {role: EnvReference(PASSWORD_VARIABLES[role]) for role in NATS_USERS}


redact = redact_url
"""``servers`` with every password (or token) replaced by ``***``, for printing and logs."""


def generate_password() -> str:
    """A fresh password that :func:`check_password` accepts (192 random bits)."""
    return "hsl" + secrets.token_hex(24)
