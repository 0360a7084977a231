"""Errors as RFC 9457 ``application/problem+json``: naming the rule or the field, in Chinese.

| raised                                   | status | ``type``                        |
| ---------------------------------------- | ------ | ------------------------------- |
| ``RuleViolation`` (rules 1–8)            | 409    | ``urn:hsl:problem:rule-<n>``    |
| ``ValidationError``, bad JSON or field   | 422    | ``urn:hsl:problem:validation``  |
| ``NotFoundError``, unknown id or route   | 404    | ``urn:hsl:problem:not-found``   |
| missing, unknown or revoked token        | 401    | ``urn:hsl:problem:unauthorized``|
| too many failed tokens from this address | 429    | ``urn:hsl:problem:throttled``   |
| role or scope does not allow the command | 403    | ``urn:hsl:problem:forbidden``   |
| a concurrent write to the same aggregate | 409    | ``urn:hsl:problem:conflict``    |
| the aggregate's subject holds a message  | 409    | ``urn:hsl:problem:quarantined`` |
| that is not an event (events.jetstream.quarantine) |        |                                 |
| the log or the views cannot be reached   | 503    | ``urn:hsl:problem:unavailable`` |
| a write sent and never answered          | 503    | ``urn:hsl:problem:result-unknown`` |
| a store has no room (nothing stored)     | 503    | ``urn:hsl:problem:storage-full``   |
| a malformed ``Idempotency-Key`` header   | 400    | ``urn:hsl:problem:bad-request``    |
| a key first used with another request    | 422    | ``…:idempotency-key-reused``       |
| a request with the key is being recorded | 409    | ``…:idempotency-key-busy``         |
| anything else (a bug)                    | 500    | ``urn:hsl:problem:internal``    |

``title`` is a short Chinese heading; ``detail`` the domain's own Chinese message (what to do);
``detail_en`` the English beside it; ``rule``/``rule_number`` or ``field`` name what was broken.
Problem texts pass through :func:`events.redact.redact_text`: no credential reaches a caller.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
import structlog
from eventsourcing.persistence import (
    IntegrityError,
    MapperDeserialisationError,
    OperationalError,
)
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec

from events.jetstream.quarantine import QuarantinedError
from events.jetstream.write_errors import NotStoredError, ResultUnknownError, StorageFullError
from events.redact import redact_text
from replay.bundle import BundleError
from replay.checkpointer import CheckpointerError
from replay.history import HistoryError
from service.auth.policy import Forbidden
from service.domain.errors import DomainError, NotFoundError, RuleViolation, ValidationError
from service.http.auth_limit import Throttled
from service.http.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    IdempotencyKeyBusyError,
    IdempotencyKeyError,
    IdempotencyKeyReusedError,
)
from service.http.metrics import METRICS

log = structlog.get_logger(__name__)

MEDIA_TYPE: Final = "application/problem+json"

RULE_TITLES: Final[dict[int, str]] = {
    1: "议题未经同级党组织审定",
    2: "议题备案不符合规定",
    3: "群众代表原则上不少于三分之二",
    4: "未按协商程序的顺序办理",
    5: "落实前须公示并跟踪监督",
    6: "落实不到位须先分析原因",
    7: "须向持不同意见的群众解释说明",
    8: "须有县区政协委员挂钩",
}
"""Rule number (docs/rules.md) → the problem's Chinese title."""


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem detail, with the project's extension members."""

    type: str
    title: str
    status: int
    detail: str
    detail_en: str | None = None
    instance: str | None = None
    rule: str | None = None
    """The seed's section(s), e.g. ``§四.2``."""
    rule_number: int | None = None
    """The rule's number in the seed's list (docs/rules.md)."""
    field: str | None = None
    """The body or path field at fault, msgspec-style (``participants[2].role``)."""
    request_id: str | None = None


class Unauthorized(Exception):  # noqa: N818 - reads as the HTTP status it maps to
    """No valid bearer token."""

    def __init__(self, message: str, message_en: str) -> None:
        self.message = message
        self.message_en = message_en
        super().__init__(message_en)


class Unavailable(Exception):  # noqa: N818 - reads as the HTTP status it maps to
    """A dependency (the log, the views file) cannot serve the request now."""

    def __init__(self, message: str, message_en: str) -> None:
        self.message = message
        self.message_en = message_en
        super().__init__(message_en)


def problem_of(exc: Exception) -> Problem:  # noqa: PLR0911, PLR0912 - one case per row
    """The problem an exception becomes (the table in this module's docstring)."""
    written = write_problem(exc)
    if written is not None:
        return written
    match exc:
        case RuleViolation():
            return Problem(
                type=f"urn:hsl:problem:rule-{exc.rule_number}",
                title=RULE_TITLES.get(exc.rule_number, "违反协商规则"),
                status=exc.status,
                detail=exc.message,
                detail_en=exc.message_en or None,
                rule=exc.rule,
                rule_number=exc.rule_number,
            )
        case ValidationError():
            return Problem(
                type="urn:hsl:problem:validation",
                title="填写内容有误",
                status=422,
                detail=exc.message,
                detail_en=exc.message_en or None,
                field=exc.field,
            )
        case NotFoundError():
            return Problem(
                type="urn:hsl:problem:not-found",
                title="未找到",
                status=404,
                detail=exc.message,
                detail_en=exc.message_en or None,
            )
        case DomainError():
            return Problem(
                type="urn:hsl:problem:refused",
                title="办理被拒绝",
                status=exc.status,
                detail=exc.message,
                detail_en=exc.message_en or None,
            )
        case HistoryError():
            return Problem(
                type="urn:hsl:problem:not-found",
                title="未找到",
                status=404,
                detail=f"日志中没有这条记录：{exc}",
                detail_en=str(exc),
            )
        case Forbidden():
            return Problem(
                type="urn:hsl:problem:forbidden",
                title="无权办理",
                status=403,
                detail=exc.message,
                detail_en=exc.message_en,
            )
        case Unauthorized():
            return Problem(
                type="urn:hsl:problem:unauthorized",
                title="未登录或令牌无效",
                status=401,
                detail=exc.message,
                detail_en=exc.message_en,
            )
        case Throttled():
            return Problem(
                type="urn:hsl:problem:throttled",
                title="登录失败次数过多",
                status=429,
                detail=f"登录令牌错误次数过多，请 {exc.retry_after} 秒后再试",
                detail_en=f"too many failed authentications; retry after {exc.retry_after} s",
            )
        case Unavailable():
            return _unavailable(exc.message, exc.message_en)
        case QuarantinedError() | MapperDeserialisationError():
            return Problem(
                type="urn:hsl:problem:quarantined",
                title="记录中有无法读取的消息",
                status=409,
                detail=(
                    "该事项的日志中有一条不是本系统事件的消息，无法读取该事项，本次未记录；"
                    f"其他事项不受影响。请联系运维人员（hsl audit verify --live）：{exc}"
                ),
                detail_en=(
                    "the log holds a message on this aggregate's subject that is not one of "
                    f"its events; nothing was recorded, other aggregates are unaffected: {exc}"
                ),
            )
        case IntegrityError():
            return Problem(
                type="urn:hsl:problem:conflict",
                title="记录已被他人更新",
                status=409,
                detail="同一事项刚被他人更新，本次未记录；请刷新后重试",
                detail_en="the aggregate was changed concurrently; nothing was recorded, retry",
            )
        case BundleError():
            return Problem(
                type="urn:hsl:problem:validation",
                title="导出参数有误",
                status=422,
                detail=f"审计导出无法按要求生成：{exc}",
                detail_en=str(exc),
            )
        case CheckpointerError():
            return _unavailable(
                "检查点暂时无法签署，导出未生成；请稍后重试", f"the checkpointer failed: {exc}"
            )
        case OperationalError():
            return _unavailable(
                "事件日志暂时无法访问，本次未记录；请稍后重试", "the event log cannot be reached"
            )
        case ValidationException():
            return _validation_problem(exc)
        case SerializationException():
            return Problem(
                type="urn:hsl:problem:validation",
                title="填写内容有误",
                status=422,
                detail=f"请求内容不是有效的 JSON：{exc}",
                detail_en=f"the body is not valid JSON: {exc}",
                field="$",
            )
        case NotFoundException():
            return Problem(
                type="urn:hsl:problem:not-found",
                title="未找到",
                status=404,
                detail="没有这个地址",
                detail_en=exc.detail,
            )
        case MethodNotAllowedException():
            return Problem(
                type="urn:hsl:problem:method-not-allowed",
                title="不支持该请求方法",
                status=405,
                detail="该地址不支持此请求方法",
                detail_en=exc.detail,
            )
        case HTTPException() if exc.status_code < 500:
            if exc.status_code == 400:  # Litestar's: the body could not be decoded
                return Problem(
                    type="urn:hsl:problem:validation",
                    title="填写内容有误",
                    status=422,
                    detail=f"请求内容不是有效的 JSON：{exc.detail}",
                    detail_en=f"the body is not valid JSON: {exc.detail}",
                    field="$",
                )
            return Problem(
                type="urn:hsl:problem:bad-request",
                title="请求有误",
                status=exc.status_code,
                detail=f"请求有误：{exc.detail}",
                detail_en=exc.detail,
            )
        case _:
            return Problem(
                type="urn:hsl:problem:internal",
                title="服务器内部错误",
                status=500,
                detail="服务器处理出错，本次未记录；请联系管理员并提供 request_id",
                detail_en=f"internal error ({type(exc).__name__})",
            )


def write_problem(exc: Exception) -> Problem | None:  # noqa: PLR0911 - one case per kind
    """How a write ended when it did not simply succeed or break a rule: its result unknown,
    no room in a store, or an ``Idempotency-Key`` that cannot be used (docs/api.md)."""
    match exc:
        case ResultUnknownError():
            where = "、".join(exc.aggregate_ids) or "-"
            return Problem(
                type="urn:hsl:problem:result-unknown",
                title="结果未知",
                status=503,
                detail=(
                    "提交已发往事件日志，但未收到确认（连接中断或超时），无法确定是否已记录。"
                    "请带同一 Idempotency-Key 重试以取得原结果（不会重复记录）；"
                    f"未带该请求头时，请先查询相关事项（{where}）确认是否已记录，再决定是否重试"
                ),
                detail_en=(
                    "the commit was sent to the event log but no answer came (connection lost "
                    "or timeout): it may or may not be recorded. Retry with the same "
                    "Idempotency-Key to get the first result without recording twice; without "
                    f"one, GET the aggregate ({where}) to see whether it was recorded"
                ),
            )
        case StorageFullError():
            return Problem(
                type="urn:hsl:problem:storage-full",
                title="存储空间不足",
                status=503,
                detail=(
                    f"事件日志的存储（NATS JetStream，{exc.store}）已无空间，本次未记录；"
                    "请管理员释放空间或提高 JetStream 存储上限，之后重试即可，服务无需重启"
                ),
                detail_en=(
                    f"the event log's store (NATS JetStream, {exc.store}) is full; nothing was "
                    "recorded. Retry once space is freed or the limit raised; no restart needed"
                ),
            )
        case NotStoredError():
            return _unavailable(
                "事件日志暂时无法写入，本次未记录；请稍后重试", f"nothing was recorded: {exc}"
            )
        case IdempotencyKeyError():
            return Problem(
                type="urn:hsl:problem:bad-request",
                title="请求有误",
                status=400,
                detail=(
                    f"请求头 Idempotency-Key 无效：须为 1 至 {MAX_KEY_LENGTH} 个"
                    "可见 ASCII 字符，不含空格"
                ),
                detail_en=str(exc),
                field=HEADER,
            )
        case IdempotencyKeyReusedError():
            return Problem(
                type="urn:hsl:problem:idempotency-key-reused",
                title="Idempotency-Key 已用于另一请求",
                status=422,
                detail=(
                    "该 Idempotency-Key 已用于内容不同的另一请求，本次未记录；新的请求请换用新的键"
                ),
                detail_en=(
                    "this Idempotency-Key was first used with another request (command, path "
                    "or body); nothing was recorded. Use a new key for a new request"
                ),
                field=HEADER,
            )
        case IdempotencyKeyBusyError():
            return Problem(
                type="urn:hsl:problem:idempotency-key-busy",
                title="同一请求正在办理",
                status=409,
                detail=(
                    "带此 Idempotency-Key 的请求正在记录中，本次未重复记录；"
                    f"请约 {exc.retry_after} 秒后重试"
                ),
                detail_en=(
                    "a request with this Idempotency-Key is being recorded; nothing was "
                    f"recorded twice. Retry in about {exc.retry_after} s"
                ),
                field=HEADER,
            )
    return None


def _unavailable(detail: str, detail_en: str) -> Problem:
    """A 503 ``unavailable`` problem: the log or the views cannot be used now."""
    return Problem(
        type="urn:hsl:problem:unavailable",
        title="服务暂不可用",
        status=503,
        detail=detail,
        detail_en=detail_en,
    )


def _validation_problem(exc: ValidationException) -> Problem:
    """Litestar's body/path validation → the first field at fault."""
    errors: list[dict[str, Any]] = exc.extra if isinstance(exc.extra, list) else []
    first = errors[0] if errors else {}
    key = str(first.get("key") or "$")
    message = str(first.get("message") or exc.detail)
    if key == "data":
        key = "$"
    if message.startswith("Object contains unknown field"):
        unknown = message.split("`")[1] if "`" in message else key
        key = f"{key}.{unknown}" if key != "$" else unknown
    if key in ("actor", "$.actor"):
        text = "请求中不得填写 actor：办理人取自登录令牌"
        return Problem(
            type="urn:hsl:problem:validation",
            title="填写内容有误",
            status=422,
            detail=text,
            detail_en="the body carries no actor: it is the authenticated caller",
            field="actor",
        )
    return Problem(
        type="urn:hsl:problem:validation",
        title="填写内容有误",
        status=422,
        detail=f"{key}：输入无效（{message}）",
        detail_en=f"{key}: {message}",
        field=key,
    )


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The exception handler for every exception the app does not answer itself."""
    problem = problem_of(exc)
    problem.instance = request.url.path
    problem.detail = redact_text(problem.detail)
    if problem.detail_en is not None:
        problem.detail_en = redact_text(problem.detail_en)
    state = request.scope.setdefault("state", {})
    problem.request_id = state.setdefault("request_id", uuid.uuid4().hex)
    METRICS.error(problem.type.rsplit(":", 1)[-1])
    if state.get("hsl_command") and not state.get("hsl_counted"):  # refused before the handler
        METRICS.command(state["hsl_command"], "refused")
    if problem.status == 500:
        log.error("request failed", status=problem.status, exc_info=exc)
    elif problem.status > 500:
        log.warning("request unavailable", status=problem.status, reason=problem.detail_en)
    else:
        log.info("request refused", status=problem.status, problem=problem.type)
    headers = {"X-Request-ID": problem.request_id}
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="hsl"'
    if isinstance(exc, (Throttled, IdempotencyKeyBusyError)):
        headers["Retry-After"] = str(exc.retry_after)
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def problem_responses(
    *statuses: int, descriptions: dict[int, str] | None = None
) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a route may answer (``application/problem+json``);
    a route that authenticates (401) may also answer 429."""
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    described = descriptions or PROBLEM_DESCRIPTIONS
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=described[status],
            media_type=MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


PROBLEM_DESCRIPTIONS: dict[int, str] = {
    401: "No token, or an unknown or revoked one (未登录或令牌无效)",
    403: "The caller's role or scope does not allow it (无权办理)",
    404: "Unknown id (未找到)",
    429: "Too many failed authentications from this address; see `Retry-After` (登录失败次数过多)",
    409: "A seed rule would be broken, named in `rule`; or a concurrent write",
    422: "Bad JSON or field, named in `field` (填写内容有误)",
    503: "The log or the views cannot be reached now (服务暂不可用)",
}

COMMAND_PROBLEM_DESCRIPTIONS: dict[int, str] = {
    **PROBLEM_DESCRIPTIONS,
    400: "A malformed `Idempotency-Key` header, named in `field` (请求有误)",
    409: (
        "A seed rule would be broken, named in `rule`; a concurrent write; or a request "
        "with the same `Idempotency-Key` is still being recorded (see `Retry-After`)"
    ),
    422: (
        "Bad JSON or field, named in `field` (填写内容有误); or an `Idempotency-Key` "
        "first used with another request (`idempotency-key-reused`)"
    ),
    503: (
        "Nothing was recorded: the log cannot be reached (`unavailable`) or its store is "
        "full (`storage-full`); or the write was sent and its result is unknown "
        "(`result-unknown`: retry with the same `Idempotency-Key`)"
    ),
}
"""What a command's problems mean: its 503 says whether anything may have been recorded."""
