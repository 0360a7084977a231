"""Operations: ``/healthz`` (the process answers), ``/readyz`` (the log and the views answer),
``/metrics`` (Prometheus text). None needs a token: they reveal counts, not content."""

from __future__ import annotations

import time

import msgspec
from litestar import Response, get

from events.jetstream.commits import JetStreamRecorder
from service.http.metrics import METRICS
from service.http.services import Services, ServicesParameter


class Health(msgspec.Struct, kw_only=True):
    status: str


class Readiness(msgspec.Struct, kw_only=True):
    """Each check: ``ok`` or why not."""

    status: str
    nats: str
    views: str


def _log_head(services: Services) -> int | None:
    """The log's last sequence, or None when NATS does not answer.

    While the connection is down (reconnecting to a restarted server or another node) the
    answer is None at once, instead of a request that waits for its timeout.
    """
    recorder = services.app.recorder
    if isinstance(recorder, JetStreamRecorder) and not recorder.connected:
        return None
    try:
        head = recorder.max_notification_id()
    except Exception:
        return None
    return int(head or 0)


@get("/healthz", tags=["operations"], sync_to_thread=False)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@get("/readyz", tags=["operations"], sync_to_thread=True)
def readyz(services: ServicesParameter) -> Response[Readiness]:
    """Ready when NATS answers and takes writes, and the views file can be read (else 503)."""
    nats = "ok" if _log_head(services) is not None else "the event log (NATS) does not answer"
    refusal = services.refusal()
    if nats == "ok" and refusal is not None:
        nats = str(refusal)
    problem = services.views.readable()
    view_state = "ok" if problem is None else problem
    ready = nats == "ok" and view_state == "ok"
    body = Readiness(status="ready" if ready else "not ready", nats=nats, views=view_state)
    return Response(body, status_code=200 if ready else 503)


@get("/metrics", tags=["operations"], sync_to_thread=True, media_type="text/plain; version=0.0.4")
def metrics(services: ServicesParameter) -> str:
    """Commands by type and result, errors, requests; log head, views position and lag."""
    head = _log_head(services)
    position = services.views.position()
    lag = head - position if head is not None and position is not None else None
    age = None
    path = services.views.path
    if path.exists():
        age = max(0.0, time.time() - path.stat().st_mtime)
    gauges: dict[str, tuple[str, float | None]] = {
        "hsl_log_last_sequence": ("Last sequence of the event stream.", head),
        "hsl_views_position": ("Log position the DuckDB views have reached.", position),
        "hsl_projection_lag_events": ("Events the views are behind the log.", lag),
        "hsl_views_file_age_seconds": ("Seconds since the views file last changed.", age),
        "hsl_quarantined_events": (
            "Stored messages of the event log the views skipped as not events "
            "(the views' quarantine table).",
            services.views.quarantined(),
        ),
    }
    if services.gauges is not None:
        gauges.update(services.gauges())
    return METRICS.render(gauges)


OPS_HANDLERS = [healthz, readyz, metrics]
