"""What the API's handlers need, in one object handed to :func:`~service.http.app.create_app`.

The app provides it to every handler that names a ``services`` parameter (Litestar's
dependency injection, :data:`ServicesParameter`) and closes what lives as long as it does in
its lifespan, so no handler reaches for a module global and two apps in one process (the
tests make many) never share state they did not share on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from litestar.params import SkipValidation

from service.application import HaoshangliangApplication
from service.auth.users import UserStore
from service.http.metrics import Gauges
from service.http.views_reader import ViewsReader


@dataclass(frozen=True)
class Services:
    """What the API serves: the application on the log, the users, the views."""

    app: HaoshangliangApplication
    users: UserStore
    views: ViewsReader
    """The views' reader: through this process's projector, the one holding the file in
    another process (over NATS), or the file read-only (``service.http.views_reader``)."""
    data_dir: Path | None = None
    """Where the checkpoint signing key lives (for ``/audit/export``)."""
    nats_url: str | None = None
    """The log's NATS URL (for ``/audit/export``'s closing checkpoint)."""
    gauges: Gauges | None = None
    """More ``/metrics`` gauges from the serving process (its checkpointer's)."""
    store_refusal: Callable[[], Exception | None] | None = None
    """Why the log's store takes no write now, when the serving process knows it (a stream
    of its embedded server deaf after a failed disk write, ``service.nats.store_recovery``)."""

    def refusal(self) -> Exception | None:
        """Why the log takes no write now, if the serving process knows one."""
        return self.store_refusal() if self.store_refusal is not None else None


ServicesParameter = SkipValidation[Services]
"""A handler's ``services`` parameter: provided by the app, taken as it is (not converted
like a request's values)."""
