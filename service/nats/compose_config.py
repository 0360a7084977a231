"""compose's NATS configuration: ``deploy/nats/accounts.conf`` rendered from the roles and
``deploy/nats/subscribers.txt``.

``python -m service.nats.compose_config`` rewrites ``accounts.conf`` (``--check`` compares,
``--passwords`` prints fresh passwords for an ``.env`` file); a test keeps the committed file
equal to the rendering. Each password in it is a reference to an environment variable
(``HSL_NATS_<ROLE>_PASSWORD``, ``HSL_NATS_SUBSCRIBER_<NAME>_PASSWORD``) that nats-server
resolves itself when it reads the file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from service.nats.passwords import PASSWORD_VARIABLES, EnvReference, generate_password
from service.nats.permissions import NATS_USERS
from service.nats.server_config import render_accounts
from service.nats.subscribers import Subscriber, SubscriberError

COMPOSE_ACCOUNTS_FILE: Final = (
    Path(__file__).resolve().parent.parent.parent / "deploy/nats/accounts.conf"
)
"""The committed rendering used by compose.yaml (passwords as ``$HSL_NATS_…`` references)."""
COMPOSE_SUBSCRIBERS_FILE: Final = COMPOSE_ACCOUNTS_FILE.with_name("subscribers.txt")
"""compose's downstream systems, one a line: ``NAME [DURABLE …]``, ``#`` for comments."""


def compose_subscribers(path: Path = COMPOSE_SUBSCRIBERS_FILE) -> tuple[Subscriber, ...]:
    """compose's downstream systems, their passwords references to their variables."""
    found: dict[str, Subscriber] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = line.partition("#")[0].split()
        if not words:
            continue
        try:
            subscriber = Subscriber.of(words[0], words[1:])
        except SubscriberError as e:
            raise SubscriberError(f"{path}:{number}: {e}") from None
        if subscriber.name in found:
            raise SubscriberError(f"{path}:{number}: {subscriber.name!r} is listed twice")
        reference = EnvReference(subscriber.password_variable)
        found[subscriber.name] = replace(subscriber, password=reference)
    return tuple(found.values())


def compose_accounts(path: Path = COMPOSE_SUBSCRIBERS_FILE) -> str:
    """``deploy/nats/accounts.conf`` as it must be: the roles and compose's downstream systems."""
    return render_accounts(extra=[s.entry() for s in compose_subscribers(path)])


def compose_password_variables(path: Path = COMPOSE_SUBSCRIBERS_FILE) -> list[str]:
    """Every variable compose's nats-server needs: the roles' and the downstream systems'."""
    roles = [PASSWORD_VARIABLES[role] for role in NATS_USERS]
    return roles + [s.password_variable for s in compose_subscribers(path)]


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite ``deploy/nats/accounts.conf``; ``--check`` compares instead of writing;
    ``--passwords`` prints fresh ``HSL_NATS_…_PASSWORD=…`` lines for an ``.env`` file.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--passwords" in args:
        for variable in compose_password_variables():
            print(f"{variable}={generate_password()}")
        return 0
    rendered = compose_accounts()
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
