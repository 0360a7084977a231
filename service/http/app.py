"""The Litestar application: :func:`create_app` over the ``Services`` it serves.

Litestar because it speaks msgspec natively: request bodies are decoded straight into the
msgspec ``Struct`` types our events already use (``Person``, ``Region``, ``Participant``,
the Literals), their ``Meta`` constraints become the OpenAPI schema, and responses are
encoded by msgspec. FastAPI would need a pydantic twin of every type (docs/api.md).

Handlers are synchronous and run in Litestar's worker threads (``sync_to_thread``): the
eventsourcing application is synchronous and its NATS bridge is made for callers on many
threads. Handlers get the ``Services`` by dependency injection (``service.http.services``); the
app's lifespan closes the views' reader when it stops.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import msgspec
import structlog
from litestar import Litestar, Request, post
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.enums import ParamType
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIResponse,
    OpenAPIType,
    Parameter,
    Schema,
    SecurityScheme,
    Server,
)
from litestar.params import FromPath, JSONBody
from litestar.types import ASGIApp, Guard, Message, Receive, Scope, Send

from events.common import Actor
from events.jetstream.idempotency_store import RETENTION
from service.application import HaoshangliangApplication
from service.auth.placement import placements
from service.auth.policy import OWN_ASSIGNMENT, Target, authorize
from service.auth.users import User
from service.http.auth_limit import FailedAuthLimiter
from service.http.bearer import LIMITER_STATE, caller
from service.http.bodies import body_guard, decoded_body
from service.http.command_routes import COMMAND_ROUTES, Accepted, CommandRoute
from service.http.export import audit_export
from service.http.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    Answer,
    fingerprint,
    idempotency_key,
    run_once,
)
from service.http.metrics import METRICS
from service.http.ops import OPS_HANDLERS
from service.http.problems import (
    COMMAND_PROBLEM_DESCRIPTIONS,
    problem_of,
    problem_response,
    problem_responses,
)
from service.http.reads import READ_HANDLERS
from service.http.services import Services, ServicesParameter

log = structlog.get_logger("service.http")

API_VERSION = "0.1.0"
REQUEST_ID = "x-request-id"


# --- commands --------------------------------------------------------------------------------


def _target(app: HaoshangliangApplication, route: CommandRoute, ident: uuid.UUID) -> Target:
    """The room (and unit) a command acts on; unknown ids raise ``NotFoundError`` (404).
    Rooms and regions never change, so they are cached (``service.auth.placement``)."""
    assert route.target is not None
    with_unit = route.name in OWN_ASSIGNMENT
    return placements(app).target(route.target, ident, with_unit=with_unit)


def _count_refusal(route: CommandRoute, error: Exception) -> None:
    METRICS.command(route.name, "refused" if problem_of(error).status < 500 else "failed")


def command_guard(route: CommandRoute, services: Services) -> Guard:
    """Before the body is read: who calls (401), may their role run it (403), does the
    path's id exist (404) and lie in their scope (403). The user and target are kept in the
    request's state for the handler. When the target's placement is known (nothing to read
    from the log) the check runs on the event loop, otherwise in a worker thread. Guards take
    no dependencies: ``services`` is the app's, given when :func:`create_app` builds the route."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        ident: uuid.UUID | None = connection.path_params.get("id")

        def check(known: Target | None) -> tuple[User, Target | None]:
            user = caller(connection, services.users)
            with structlog.contextvars.bound_contextvars(actor=user.id, command=route.name):
                authorize(user, route.name, None)  # the role first: 403 before 404
                target = known
                if target is None and ident is not None:
                    target = _target(services.app, route, ident)
                authorize(user, route.name, target)
            return user, target

        known = None
        if ident is not None and route.target is not None and route.name not in OWN_ASSIGNMENT:
            known = placements(services.app).cached(route.target, ident)
        try:
            if ident is None or known is not None:  # nothing to read from the log
                user, target = check(known)
            else:
                user, target = await anyio.to_thread.run_sync(check, None)
        except Exception as e:
            _count_refusal(route, e)
            raise
        state = connection.scope.setdefault("state", {})
        state[_USER], state[_TARGET], state[COMMAND] = user, target, route.name

    return guard


_USER, _TARGET = "hsl_user", "hsl_target"
COMMAND, COUNTED, REPLAYED = "hsl_command", "hsl_counted", "hsl_replayed"
"""Request state: the command past its guard, whether its result was counted (a body the
handler never saw, refused with 422, is counted by the problem handler), and for a command with
an ``Idempotency-Key`` whether its answer is the first request's (``Idempotent-Replayed``)."""


def _run(
    route: CommandRoute,
    request: Request[Any, Any, Any],
    services: Services,
    ident: uuid.UUID | None,
) -> Accepted:
    state = request.scope.setdefault("state", {})
    user: User = state[_USER]
    data: Any = decoded_body(request)  # strictly (service.http.bodies), not Litestar's `data`
    target: Target = state[_TARGET] or Target(room_id=None, region=data.region)
    fields = msgspec.structs.asdict(data)
    state[COUNTED] = True
    try:
        key = idempotency_key(request.headers)
        actor = authorize(user, route.name, target, fields)
        refusal = services.refusal()
        if refusal is not None:  # answered at once, not after a publish that waits in vain
            raise refusal
        with structlog.contextvars.bound_contextvars(
            actor=actor.id, role=actor.role, command=route.name, aggregate_id=str(ident or "")
        ):
            if key is None:
                accepted = _execute(services.app, route, actor, ident, fields)
                _recorded(services.app, route, accepted, target)
                answer = accepted
            else:
                answer, replayed = _run_keyed(
                    services.app, route, who=(user, actor, target), ident=ident, data=data, key=key
                )
                state[REPLAYED] = replayed
    except Exception as e:
        _count_refusal(route, e)
        raise
    METRICS.command(route.name, "ok")
    return answer


def _status(route: CommandRoute) -> int:
    """A command that creates an aggregate answers 201, any other 200."""
    return 201 if route.creates else 200


def _execute(
    app: HaoshangliangApplication,
    route: CommandRoute,
    actor: Actor,
    ident: uuid.UUID | None,
    fields: dict[str, Any],
) -> Accepted:
    """Run the command; what it answers."""
    method = getattr(app, route.name)
    result = method(*([ident] if ident is not None else []), actor=actor, **fields)
    if route.creates is not None:
        return Accepted(command=route.name, id=str(result))
    shown = None if result is None else str(result)
    return Accepted(command=route.name, id=str(ident), result=shown)


def _recorded(
    app: HaoshangliangApplication, route: CommandRoute, accepted: Accepted, target: Target
) -> None:
    """After the command's events are stored: remember a new aggregate's place, log it."""
    if route.creates is not None:
        placements(app).created(route.creates, uuid.UUID(accepted.id), target)
    log.info("command recorded", id=accepted.id, result=accepted.result)


def _run_keyed(
    app: HaoshangliangApplication,
    route: CommandRoute,
    *,
    who: tuple[User, Actor, Target],
    ident: uuid.UUID | None,
    data: Any,
    key: str,
) -> tuple[Accepted, bool]:
    """A command with an ``Idempotency-Key`` (``service.http.idempotency``): its answer, and
    whether that is the first request's, replayed (the status is the route's either way:
    only recorded commands keep their answer)."""
    user, actor, target = who
    status = _status(route)

    def execute() -> Answer:
        accepted = _execute(app, route, actor, ident, msgspec.structs.asdict(data))
        return Answer(status, msgspec.json.encode(accepted), replayed=False)

    answer = run_once(
        app,
        caller=user.id,
        key=key,
        request_fingerprint=fingerprint(route.name, ident, msgspec.json.encode(data)),
        execute=execute,
    )
    accepted = msgspec.json.decode(answer.body, type=Accepted)
    if answer.replayed:
        log.info("command replayed", id=accepted.id, result=accepted.result)
    else:
        _recorded(app, route, accepted, target)
    return accepted, answer.replayed


_JSON_BODY: Any = JSONBody
"""``JSONBody[T]`` for a body type known only at run time (typed Any for mypy)."""


def command_handler(route: CommandRoute, services: Services) -> HTTPRouteHandler:
    """``POST route.path``: authenticate, authorize against the policy table, run, answer.

    ``data`` documents the body in the OpenAPI schema; the command runs on the body as
    ``service.http.bodies`` decoded it, strictly."""
    if route.target is None:

        def handler_without_id(
            request: Request[Any, Any, Any], data: Any, services: Services
        ) -> Accepted:
            return _run(route, request, services, None)

        handler: Any = handler_without_id
        handler.__annotations__ = {
            "request": Request,
            "data": _JSON_BODY[route.body],
            "services": ServicesParameter,
            "return": Accepted,
        }
    else:

        def handler_with_id(
            request: Request[Any, Any, Any], data: Any, services: Services, id: uuid.UUID
        ) -> Accepted:
            return _run(route, request, services, id)

        handler = handler_with_id
        handler.__annotations__ = {
            "request": Request,
            "data": _JSON_BODY[route.body],
            "services": ServicesParameter,
            "id": FromPath[uuid.UUID],
            "return": Accepted,
        }
    handler.__name__ = handler.__qualname__ = route.name
    return post(
        route.path,
        operation_id=route.name,
        summary=route.summary,
        tags=[route.tag],
        status_code=_status(route),
        sync_to_thread=True,
        guards=[command_guard(route, services), body_guard(route)],
        responses=problem_responses(
            400,
            401,
            403,
            *([404] if route.target else []),
            409,
            422,
            503,
            descriptions=COMMAND_PROBLEM_DESCRIPTIONS,
        ),
    )(handler)


# --- request context -------------------------------------------------------------------------


def request_context(app: ASGIApp) -> ASGIApp:
    """Give every request an id (``X-Request-ID``, taken from the caller or made here), bind
    it into structlog, count the request and log one access line."""

    async def middleware(asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope: Any = asgi_scope
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID.encode(), b"").decode("latin-1")
        request_id = given[:64] if given else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                headers[REQUEST_ID] = request_id
                if REPLAYED in state:  # a command with an Idempotency-Key, answered
                    headers[REPLAYED_HEADER] = "true" if state[REPLAYED] else "false"
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, receive, send_with_id)
            finally:
                METRICS.request(scope["method"], status)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                    actor=state.get("actor"),
                )

    return middleware


# --- the app ---------------------------------------------------------------------------------


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="好商量 haoshangliang API",
        version=API_VERSION,
        description=(
            "有事好商量协商议事的审计留痕服务：每个命令一个 POST 接口，办理人取自登录令牌。"
            " The 有事好商量 audit trail: one POST per command; the actor is the bearer token's"
            " person. Errors are application/problem+json (RFC 9457). See docs/api.md."
        ),
        path="/schema",
        servers=[Server(url="/")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http", scheme="bearer", description="a token from `hsl users add`"
                )
            }
        ),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
    )


def _without_litestar_400(schema: OpenAPI) -> None:
    """Litestar documents a 400 for validation; this API answers 422 problems instead (a
    command's own 400, a malformed ``Idempotency-Key``, stays)."""
    ours = COMMAND_PROBLEM_DESCRIPTIONS[400]
    for item in (schema.paths or {}).values():
        for operation in (item.get, item.post):
            if operation is not None and operation.responses:
                kept = operation.responses.get("400")
                if not isinstance(kept, OpenAPIResponse) or kept.description != ours:
                    operation.responses.pop("400", None)


def _with_idempotency_key(schema: OpenAPI) -> None:
    """Every command takes the optional ``Idempotency-Key`` header (docs/api.md)."""
    commands = {route.name for route in COMMAND_ROUTES}
    for item in (schema.paths or {}).values():
        operation = item.post
        if operation is None or operation.operation_id not in commands:
            continue
        operation.parameters = [
            *(operation.parameters or []),
            Parameter(
                name=HEADER,
                param_in=ParamType.HEADER,
                required=False,
                description=(
                    f"A key the client makes per request (1–{MAX_KEY_LENGTH} visible ASCII "
                    "characters, no spaces): a "
                    "retry with the same key and body gets the first answer "
                    "(`Idempotent-Replayed: true`) and records nothing twice, on any API "
                    f"process, for {RETENTION.total_seconds() / 3600:g} h"
                ),
                schema=Schema(
                    type=OpenAPIType.STRING,
                    min_length=1,
                    max_length=MAX_KEY_LENGTH,
                    pattern="^[!-~]+$",  # visible ASCII, as service.http.idempotency checks
                ),
            ),
        ]


def create_app(services: Services) -> Litestar:
    """The API over ``services``: each handler's ``services`` parameter is this object."""

    @asynccontextmanager
    async def views_reader_closed_at_the_end(_: Litestar) -> AsyncIterator[None]:
        """The views' reader opens its NATS connection on the first read that needs it and
        closes it when the app stops (after the requests in flight)."""
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(services.views.close)

    app = Litestar(
        route_handlers=[
            *(command_handler(route, services) for route in COMMAND_ROUTES),
            *READ_HANDLERS,
            audit_export,
            *OPS_HANDLERS,
        ],
        dependencies={"services": Provide(lambda: services, use_cache=True, sync_to_thread=False)},
        lifespan=[views_reader_closed_at_the_end],
        state=State({LIMITER_STATE: FailedAuthLimiter()}),
        exception_handlers={Exception: problem_response},
        middleware=[request_context],
        openapi_config=openapi_config(),
        logging_config=None,
        debug=False,
    )
    _without_litestar_400(app.openapi_schema)
    _with_idempotency_key(app.openapi_schema)
    return app
