"""Who is calling: the ``Authorization: Bearer <token>`` header against the user store."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from service.auth.users import User, UserStore
from service.http.problems import Unauthorized


def caller(request: ASGIConnection[Any, Any, Any, Any], store: UserStore) -> User:
    """The active user behind the request's bearer token, or :class:`Unauthorized`."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "请在请求头中提供登录令牌（Authorization: Bearer …）；"
            "令牌由管理员用 hsl users add 发放",
            "send 'Authorization: Bearer <token>' (issued by `hsl users add`)",
        )
    user = store.authenticate(token.strip())
    if user is None:
        raise Unauthorized(
            "登录令牌无效或已被吊销，请联系管理员重新发放",
            "the token is unknown or revoked",
        )
    request.scope.setdefault("state", {})["actor"] = user.id
    return user
