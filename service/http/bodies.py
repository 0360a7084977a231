"""A command's body, decoded strictly at the door: the types it says, text as it should be.

Litestar converts bodies leniently (``strict=False``): ``"5"`` became the number 5, and
``occurred_at: 12345`` a time in 1970. And it first parses the JSON without a type, where a
body nested 1,000 deep raised ``RecursionError`` (a 500). So :func:`body_guard`, after the
caller is authorized (``service.http.app.command_guard``) and before Litestar reads the body,
decodes the raw bytes itself with msgspec into the command's request Struct, ``strict=True``:

- numbers are JSON numbers, strings JSON strings, nothing is converted; times are RFC 3339
  strings with an offset (``UtcDatetime``: a naive time or a number is refused), dates
  ``YYYY-MM-DD``;
- the decoder follows the Struct, whose depth is fixed (no field is ``Any``), so nesting
  deeper than the Struct fails at the first level too deep, without recursing; a
  ``RecursionError`` all the same is a 422 naming the body, never a 500;
- every string passes ``service.domain.text`` (no control characters, no bidi overrides,
  never only spaces), the error naming its path (``participants[2].name``).

A refusal is the same 422 validation problem as Litestar's, through
``service.http.problems`` (an unknown field and ``actor`` are named as there). The decoded
body is kept in the request's state for the handler (:func:`decoded_body`); what Litestar
then decodes from the same bytes is the same value, since it passed the stricter decoder.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import SerializationException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from service.domain.text import check_texts
from service.http.command_routes import CommandRoute

BODY: Final = "hsl_body"
"""Request state: the command's body as :func:`body_guard` decoded it."""

_AT: Final = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


@functools.cache
def _decoder(body: type[msgspec.Struct]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(body, strict=True)


def decode_body(body: type[msgspec.Struct], raw: bytes) -> msgspec.Struct:
    """``raw`` as ``body``, strictly; Litestar's exceptions name what is wrong."""
    try:
        value: msgspec.Struct = _decoder(body).decode(raw)
    except msgspec.ValidationError as e:
        text = str(e)
        found = _AT.search(text)
        key = found.group("path") if found and found.group("path") else "data"  # as Litestar
        message = _AT.sub("", text)
        raise ValidationException(
            detail=f"Validation failed for {body.__name__}",
            extra=[{"key": key, "message": message, "source": "body"}],
        ) from e
    except msgspec.DecodeError as e:
        raise SerializationException(str(e)) from e
    except RecursionError as e:
        raise SerializationException("JSON nested too deeply") from e
    check_texts(value, body)
    return value


def body_guard(route: CommandRoute) -> Guard:
    """The guard that decodes ``route``'s body (after ``command_guard``: 401/403/404 first)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        assert isinstance(connection, Request)  # command routes are HTTP routes
        raw = await connection.body()
        connection.scope.setdefault("state", {})[BODY] = decode_body(route.body, raw)

    return guard


def decoded_body(request: Request[Any, Any, Any]) -> msgspec.Struct:
    """The body :func:`body_guard` decoded for this request."""
    value: msgspec.Struct = request.scope["state"][BODY]
    return value
