"""NATS users for tests: a password for every variable compose's nats-server needs."""

from __future__ import annotations

import secrets

from service.nats.compose_config import compose_password_variables


def compose_passwords() -> dict[str, str]:
    """A password for every variable compose's nats-server needs (roles, downstream systems)."""
    # Letters first, then the whole alphabet allowed, "-" and "_" included.
    return {
        variable: "p" + secrets.token_urlsafe(18) + "-_"
        for variable in compose_password_variables()
    }
