"""The API inside ``hsl serve``: uvicorn as a task on the command's own asyncio loop.

``hsl serve`` owns the signals (SIGINT/SIGTERM end everything it runs, in order), so
uvicorn's own signal capture is switched off; :meth:`RunningApi.stop` asks it to finish the
requests in flight and close. The socket is bound here, before uvicorn starts, so a busy
port is one clear error and ``--port 0`` picks a free port and prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from projections.remote_views import RemoteViews
from service import bootstrap
from service.auth.users import UserStore
from service.data_dir import views_path
from service.http.app import create_app
from service.http.metrics import Gauges
from service.http.services import Services
from service.http.views_reader import LocalViews, ViewsReader
from service.settings import Settings

APP_ENV: dict[str, str] = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
"""The API's application keeps recent aggregates and fast-forwards them from the log (new
events only) instead of replaying each one per request; eventsourcing hands every caller a
deep copy, so threads never share one, and events written by other processes are still read."""


class ApiError(RuntimeError):
    """The API cannot start (the port is taken, the log cannot be opened)."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: ``hsl serve`` owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningApi:
    """A started API: where it listens, its task, and what to close."""

    url: str
    task: asyncio.Task[None]
    server: _Server
    opened: bootstrap.Opened

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish requests in flight, stop listening (the app's lifespan closes its views'
        reader), close the application."""
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.task), timeout=timeout)
        if not self.task.done():
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        await asyncio.to_thread(self.opened.close)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, proto, _, address = infos[0]
        # With its protocol given (IPPROTO_TCP), asyncio sets TCP_NODELAY on each accepted
        # connection; without it every response waited ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        raise ApiError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def start_api(
    settings: Settings,
    host: str,
    port: int,
    gauges: Gauges | None = None,
    store_refusal: Callable[[], Exception | None] | None = None,
    *,
    local_views: LocalViews | None = None,
) -> RunningApi:
    """Open the application on the log, bind, and serve the API in a task (``gauges``: more
    ``/metrics`` from the serving process, such as its checkpointer's; ``store_refusal``: why
    the log takes no write now, when this process watches its store; ``local_views``: the
    views file as this process's projector holds it)."""
    sock = bind(host, port)
    try:
        opened = await asyncio.to_thread(
            lambda: bootstrap.open_application(settings, env_overrides=APP_ENV)
        )
    except bootstrap.BootstrapError as e:
        sock.close()
        raise ApiError(str(e)) from e
    path = views_path(settings)
    # The views' reader: reads go to this process's projector when it runs here and shares its
    # connection (``hsl serve``), else over NATS to the projector holding the file (``hsl
    # project``); the NATS connection is opened on the first read that needs it.
    remote = RemoteViews(opened.url, opened.stream, server_file=opened.handle.state_file)
    services = Services(
        app=opened.app,
        users=UserStore.in_data_dir(settings.data_dir),
        views=ViewsReader(path, local=local_views, remote=remote),
        data_dir=settings.data_dir,
        nats_url=opened.url,
        gauges=gauges,
        store_refusal=store_refusal,
    )
    config = uvicorn.Config(
        create_app(services),
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="hsl-http")
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    running = RunningApi(url=url_of(sock), task=task, server=server, opened=opened)
    if task.done():
        await running.stop()
        task.result()
        raise ApiError("the HTTP server stopped while starting")
    return running
