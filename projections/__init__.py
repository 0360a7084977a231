"""The read side: DuckDB views rebuilt from the log (docs/analytics.md)."""

from projections.rebuild import ViewsBusyError, rebuild, snapshot
from projections.runner import ProjectionError, Projector, UnknownEventError
from projections.schema import TABLES, create_schema, tracking_position

__all__ = [
    "TABLES",
    "ProjectionError",
    "Projector",
    "UnknownEventError",
    "ViewsBusyError",
    "create_schema",
    "rebuild",
    "snapshot",
    "tracking_position",
]
