"""``GET /audit/export``: an audit bundle (docs/integrity.md) as a ``.tar.gz`` download.

The same bundle ``hsl audit export`` writes (``replay.bundle.export_bundle``: the log brought
up to a fresh signed checkpoint, the events selected, their proofs), packed in memory and
sent with the verifier key in ``X-HSL-Verifier-Key``; ``hsl audit verify DIR --key KEY``
checks it offline. One outcome's history (``?outcome=ID``) or a sequence range
(``?from=&to=``) is small; the whole log is held in memory while packed, so for a large log
prefer ``hsl audit export`` on the server. Auditors and the office may export.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, get
from litestar.params import FromQuery, QueryParameter

from events.jetstream.commits import JetStreamRecorder
from replay.bundle import Selection, export_bundle
from replay.keys import load_or_create_signer, origin_for
from service.auth.policy import EXPORT_ROLES, Forbidden
from service.domain.errors import ValidationError
from service.http.bearer import caller
from service.http.problems import Unavailable, problem_responses
from service.http.services import ServicesParameter

MEDIA_TYPE = "application/gzip"


def _selection(outcome: UUID | None, first: int | None, last: int | None) -> Selection:
    ranged = first is not None or last is not None
    if outcome is not None:
        if ranged:
            raise ValidationError(
                "outcome", "请只选一种：某一成果，或一段序号", "outcome or from/to"
            )
        return Selection("outcome", outcome_id=outcome)
    if ranged:
        start = first if first is not None else 1
        if last is not None and last < start:
            raise ValidationError("to", "结束序号不能小于起始序号", "to is before from")
        return Selection("range", first=start, last=last)
    return Selection("all")


@get(
    "/audit/export",
    tags=["audit"],
    sync_to_thread=True,
    media_type=MEDIA_TYPE,
    responses=problem_responses(401, 403, 404, 422, 503),
)
def audit_export(
    request: Request[Any, Any, Any],
    services: ServicesParameter,
    *,
    outcome: FromQuery[UUID | None] = None,
    first: Annotated[int | None, QueryParameter(name="from", ge=1)] = None,
    last: Annotated[int | None, QueryParameter(name="to", ge=1)] = None,
) -> Response[bytes]:
    """A bundle to verify offline: one outcome's history, a range, or the whole log."""
    user = caller(request, services.users)
    if not EXPORT_ROLES & set(user.roles):
        raise Forbidden(
            "审计导出仅限纪检监察和领导小组办公室", "only auditors and the office may export"
        )
    selection = _selection(outcome, first, last)
    recorder = services.app.recorder
    if services.data_dir is None or services.nats_url is None:  # pragma: no cover - config
        raise Unavailable("此服务未配置审计导出", "the export is not configured here")
    if not isinstance(recorder, JetStreamRecorder):  # pragma: no cover - configuration
        raise Unavailable("审计导出需要 JetStream 事件日志", "the export needs the JetStream log")
    signer = load_or_create_signer(services.data_dir, origin_for(recorder.layout.stream))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"hsl-audit-{recorder.layout.stream}-{selection.scope}-{stamp}"
    with tempfile.TemporaryDirectory(prefix="hsl-export-") as tmp:
        target = Path(tmp) / name
        manifest = export_bundle(recorder, services.nats_url, signer, target, selection)
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as tar:
            tar.add(target, arcname=name)
    return Response(
        packed.getvalue(),
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.tar.gz"',
            "X-HSL-Verifier-Key": str(signer.verifier),
            "X-HSL-Events": str(manifest.events),
        },
    )
