"""Who is calling: the ``Authorization: Bearer <token>`` header against the user store.

A presented token costs its client address one attempt of :mod:`service.http.auth_limit`
(given back when it authenticates), so guessing is slowed to a few tries a minute. Failures
are logged and counted in ``/metrics``; the log names the token only by the first
:data:`FINGERPRINT_LENGTH` hex digits of its SHA-256 (``users.json`` holds the whole digest,
so an operator can tell a revoked token still in use), never the token itself. The header is
never logged.
"""

from __future__ import annotations

from typing import Any, Final

import structlog
from litestar.connection import ASGIConnection

from events.redact import SECRETS
from service.auth.users import User, UserStore, digest
from service.http.auth_limit import FailedAuthLimiter, Throttled
from service.http.metrics import METRICS
from service.http.problems import Unauthorized

log = structlog.get_logger(__name__)

LIMITER_STATE: Final = "hsl_auth_limiter"
"""The app state key of the app's :class:`FailedAuthLimiter` (``create_app`` sets it)."""
FINGERPRINT_LENGTH: Final = 8


def caller(request: ASGIConnection[Any, Any, Any, Any], store: UserStore) -> User:
    """The active user behind the request's bearer token; :class:`Unauthorized`, or
    :class:`~service.http.auth_limit.Throttled` when its address failed too often."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        METRICS.auth_failure("missing")
        raise Unauthorized(
            "请在请求头中提供登录令牌（Authorization: Bearer …）；"
            "令牌由管理员用 hsl users add 发放",
            "send 'Authorization: Bearer <token>' (issued by `hsl users add`)",
        )
    limiter: FailedAuthLimiter = request.app.state[LIMITER_STATE]
    client = request.client.host if request.client is not None else "unknown"
    try:
        limiter.take(client)
    except Throttled:
        METRICS.auth_throttled()
        raise
    try:
        user = store.authenticate(token)
    except BaseException:
        limiter.give_back(client)  # the store failed (500): no guess was judged
        raise
    if user is None:
        METRICS.auth_failure("invalid")
        log.warning(
            "authentication failed",
            client=client,
            token_sha256_prefix=digest(token)[:FINGERPRINT_LENGTH],
        )
        raise Unauthorized(
            "登录令牌无效或已被吊销，请联系管理员重新发放",
            "the token is unknown or revoked",
        )
    limiter.give_back(client)
    SECRETS.remember(token)  # a real token: no log line or message may show it
    request.scope.setdefault("state", {})["actor"] = user.id
    return user
