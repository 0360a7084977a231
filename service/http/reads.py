"""The main reads: outcome state and history, rooms, topics, outcomes' status, analytics.

- ``GET /outcomes/{id}``: the outcome as it stands now, from the log (read-your-writes);
- ``GET /{kind}s/{id}/history``: the ordered history (``replay.history``), as auditors see it;
- ``GET /rooms``, ``/rooms/{id}``, ``/topics``, ``/topics/{id}``, ``/outcomes``: rows of the
  DuckDB views (as current as the projector), each one named read of
  ``projections.query_service`` answered in one DuckDB transaction, in this process or by the
  projector over NATS (``service.http.views_reader``);
- ``GET /analytics`` and ``/analytics/{view}``: the office's views (``projections.analytics``),
  as JSON or, with ``?format=csv``, a UTF-8 CSV a spreadsheet opens.

Every read needs a bearer token; every authenticated person may read (the office and auditors
read everything; the mechanism keeps nothing here secret from the people who take part).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter

from events.jetstream.commits import JetStreamRecorder
from projections import view_reads as qs
from projections.analytics import VIEWS
from projections.view_reads import ResultRows
from replay.history import HistoryReader
from service.domain.errors import NotFoundError
from service.http.bearer import caller
from service.http.problems import Unavailable, problem_responses
from service.http.services import Services, ServicesParameter

AnyRequest = Request[Any, Any, Any]


class OutcomeState(msgspec.Struct, kw_only=True):
    """An outcome as it stands now (its aggregate, rebuilt from the log)."""

    id: UUID
    version: int
    room_id: UUID
    topic_id: UUID
    consultation_id: UUID
    kind: str
    title: str
    status: str
    adopted_as: str | None
    needs_implementation: bool
    publicised: bool
    objections: int
    implementation: str
    unit_id: str | None
    deadline: date | None
    progress: int
    stall_causes: list[str]
    reconsultation_topic_ids: list[UUID]
    feedback_count: int
    escalations: int


@get(
    "/outcomes/{id:uuid}",
    tags=["outcomes"],
    sync_to_thread=True,
    summary="An outcome now",
    responses=problem_responses(401, 404, 503),
)
def outcome_state(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> OutcomeState:
    """The outcome's closed-loop state as it stands now, rebuilt from the log."""
    caller(request, services.users)
    o = services.app.get_outcome(id)
    return OutcomeState(
        id=o.id,
        version=o.version,
        room_id=o.room_id,
        topic_id=o.topic_id,
        consultation_id=o.consultation_id,
        kind=o.kind,
        title=o.title,
        status=o.status,
        adopted_as=o.adopted_as,
        needs_implementation=o.needs_implementation,
        publicised=o.publicised,
        objections=o.objections,
        implementation=o.implementation,
        unit_id=o.unit_id,
        deadline=o.deadline,
        progress=o.progress,
        stall_causes=list(o.stall_causes),
        reconsultation_topic_ids=list(o.reconsultation_topic_ids),
        feedback_count=o.feedback_count,
        escalations=o.escalations,
    )


def _history(request: AnyRequest, services: Services, kind: str, ident: UUID) -> dict[str, Any]:
    caller(request, services.users)
    recorder = services.app.recorder
    if not isinstance(recorder, JetStreamRecorder):  # pragma: no cover - configuration
        raise Unavailable("历史记录需要 JetStream 事件日志", "history needs the JetStream log")
    return HistoryReader(recorder).timeline(kind, str(ident)).to_json()


@get(
    "/outcomes/{id:uuid}/history",
    tags=["history"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def outcome_history(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> dict[str, Any]:
    """The outcome's ordered history with its topic, consultation and re-consultations."""
    return _history(request, services, "outcome", id)


@get(
    "/topics/{id:uuid}/history",
    tags=["history"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def topic_history(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> dict[str, Any]:
    """The topic's ordered history with its consultation."""
    return _history(request, services, "topic", id)


@get(
    "/consultations/{id:uuid}/history",
    tags=["history"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def consultation_history(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> dict[str, Any]:
    """The consultation's ordered history."""
    return _history(request, services, "consultation", id)


@get(
    "/rooms/{id:uuid}/history",
    tags=["history"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def room_history(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> dict[str, Any]:
    """The room's ordered history."""
    return _history(request, services, "room", id)


def _read(request: AnyRequest, services: Services, read: qs.Read) -> Any:
    """``read`` answered by the views (``service.http.views_reader``: in-process, by the projector
    over NATS, or from the file), once the caller is authenticated."""
    caller(request, services.users)
    return services.views.read(read)


Limit = Annotated[int, QueryParameter(ge=1, le=10_000, description="at most this many rows")]
Offset = Annotated[int, QueryParameter(ge=0, le=qs.MAX_OFFSET, description="skip this many rows")]


@get("/rooms", tags=["rooms"], sync_to_thread=True, responses=problem_responses(401, 422, 503))
def list_rooms(
    request: AnyRequest,
    services: ServicesParameter,
    *,
    county: FromQuery[str | None] = None,
    town: FromQuery[str | None] = None,
    level: FromQuery[str | None] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> ResultRows:
    """Rooms from the views, filtered by county, town or level."""
    read = qs.Rooms(county=county, town=town, level=level, limit=limit, offset=offset)
    rows: ResultRows = _read(request, services, read)
    return rows


@get(
    "/rooms/{id:uuid}",
    tags=["rooms"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def room_view(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> dict[str, Any]:
    """One room from the views, with its linked members and annual plans."""
    room: dict[str, Any] | None = _read(request, services, qs.Room(room_id=id))
    if room is None:
        raise NotFoundError("room", id)
    return room


@get("/topics", tags=["topics"], sync_to_thread=True, responses=problem_responses(401, 422, 503))
def list_topics(
    request: AnyRequest,
    services: ServicesParameter,
    *,
    room_id: FromQuery[UUID | None] = None,
    status: FromQuery[str | None] = None,
    source: FromQuery[str | None] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> ResultRows:
    """Topics from the views, filtered by room, status or source."""
    read = qs.Topics(room_id=room_id, status=status, source=source, limit=limit, offset=offset)
    rows: ResultRows = _read(request, services, read)
    return rows


@get(
    "/topics/{id:uuid}",
    tags=["topics"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def topic_view(
    request: AnyRequest, services: ServicesParameter, id: FromPath[UUID]
) -> dict[str, Any]:
    """One topic from the views."""
    topic: dict[str, Any] | None = _read(request, services, qs.Topic(topic_id=id))
    if topic is None:
        raise NotFoundError("topic", id)
    return topic


@get(
    "/outcomes", tags=["outcomes"], sync_to_thread=True, responses=problem_responses(401, 422, 503)
)
def list_outcomes(
    request: AnyRequest,
    services: ServicesParameter,
    *,
    room_id: FromQuery[UUID | None] = None,
    stage: FromQuery[str | None] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> ResultRows:
    """The closed-loop status of outcomes (the ``outcome_status`` view)."""
    read = qs.Outcomes(room_id=room_id, stage=stage, limit=limit, offset=offset)
    rows: ResultRows = _read(request, services, read)
    return rows


@get("/analytics", tags=["analytics"], sync_to_thread=False, responses=problem_responses(401))
def list_analytics(request: AnyRequest, services: ServicesParameter) -> list[str]:
    """The names of the office's analytics views (docs/analytics.md)."""
    caller(request, services.users)
    return list(VIEWS)


@get(
    "/analytics/{view:str}",
    tags=["analytics"],
    sync_to_thread=True,
    responses=problem_responses(401, 404, 503),
)
def analytics_view(
    request: AnyRequest,
    services: ServicesParameter,
    view: FromPath[str],
    *,
    format: Annotated[
        str, QueryParameter(pattern="^(json|csv)$", description="json (default) or csv")
    ] = "json",
    limit: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 100_000,
) -> Response[Any]:
    """One analytics view's rows, as JSON or as CSV (UTF-8 with BOM)."""
    if view not in VIEWS:
        raise NotFoundError("analytics view", view)
    rows: ResultRows = _read(request, services, qs.Analytics(view=view, limit=limit))
    if format == "csv":
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        if rows:
            writer.writerow(rows[0].keys())
        writer.writerows(row.values() for row in rows)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{view}.csv"'},
        )
    return Response(rows)


READ_HANDLERS = [
    outcome_state,
    outcome_history,
    topic_history,
    consultation_history,
    room_history,
    list_rooms,
    room_view,
    list_topics,
    topic_view,
    list_outcomes,
    list_analytics,
    analytics_view,
]
