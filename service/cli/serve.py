"""``hsl serve``: NATS, the HTTP API, the checkpointer, the outcome feed and the projector in
one process, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import duckdb
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient

from events.jetstream.connection import LONG_RUNNING
from projections.query_service import QueryService, QueryServiceError
from projections.rebuild import remove_stale_rebuilds
from projections.runner import ProjectionError, Projector
from projections.schema import SchemaMismatchError
from replay.checkpointer import DEFAULT_EVERY, DEFAULT_INTERVAL, Checkpointer, CheckpointerError
from replay.signed_note import SignerKey
from service import bootstrap
from service.cli.demo import run_demo
from service.cli.log_access import (
    checkpoint_signer,
    connect_checked,
    describe_server,
    event_stream,
    version_text,
)
from service.cli.registry import Subcommand, SubcommandError
from service.data_dir import views_path
from service.feed import FeedError, FeedPublisher, public_stream
from service.http.metrics import Gauges
from service.nats.embedded import connect_url, stop_embedded
from service.nats.store_recovery import StoreRecovery
from service.settings import Settings

if TYPE_CHECKING:
    from service.http.views_reader import LocalViews

log = structlog.get_logger(__name__)


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-checkpointer",
        action="store_true",
        help="do not sign checkpoints here (another process runs `hsl audit checkpoint`)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULT_EVERY,
        metavar="N",
        help=f"sign a checkpoint every N events (default {DEFAULT_EVERY})",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=float,
        default=DEFAULT_INTERVAL,
        metavar="S",
        help=f"or after S seconds with new events (default {DEFAULT_INTERVAL:g})",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="load the demo county (`hsl demo`, seed 1) first when the log is empty",
    )
    parser.add_argument(
        "--no-projector",
        action="store_true",
        help="do not keep the DuckDB views current here (another process runs `hsl project`)",
    )
    parser.add_argument(
        "--no-feed",
        action="store_true",
        help="do not publish the outcome feed here (another process runs `hsl feed`)",
    )
    parser.add_argument(
        "--host",
        help="where the HTTP API listens (default HSL_HTTP_HOST, else 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="the HTTP API's port (default HSL_HTTP_PORT, else 8000; 0 picks a free one)",
    )


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run until SIGINT or SIGTERM."""
    if args.checkpoint_every < 1 or args.checkpoint_interval < 0:
        raise SubcommandError(
            "--checkpoint-every must be 1 or more, --checkpoint-interval 0 or more"
        )
    signer = None if args.no_checkpointer else checkpoint_signer(settings)
    cadence = (args.checkpoint_every, args.checkpoint_interval)
    port = settings.http_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise SubcommandError(f"--port {port} is not a port number (0-65535)")
    http = (args.host or settings.http_host, port)
    received = asyncio.run(
        _serve(
            settings,
            signer,
            cadence,
            http,
            feed=not args.no_feed,
            projector=not args.no_projector,
            demo=args.demo,
        )
    )
    log.info("shut down", signal=received)
    return 0


async def _serve(
    settings: Settings,
    signer: SignerKey | None,
    cadence: tuple[int, float],
    http: tuple[str, int] | None = None,
    *,
    feed: bool = False,
    projector: bool = False,
    demo: bool = False,
) -> str:
    """Find or start NATS, say where it is, run the checkpointer, the outcome feed (when
    ``feed``) and the HTTP API (on ``http``: host and port), wait for a signal.

    The signal handlers go in first, so a signal that arrives while the server is still
    starting ends the command cleanly instead of orphaning the server. NATS is stopped only
    if this command started it.
    """
    with _stop_signals() as stop:
        handle = connect_url(settings)  # blocking on purpose: nothing else runs yet
        try:
            # The checkpointer's and the feed's connection: it outlives a server's restart and
            # a cluster node's loss (``events.jetstream.connection``).
            nc = await connect_checked(handle, LONG_RUNNING, name="hsl-serve-workers")
            version = version_text(nc)
            print(
                f"NATS     {handle.display_url} ({describe_server(handle)}; nats-server {version})",
                flush=True,
            )
            print(f"data dir {settings.data_dir}", flush=True)
            if demo:
                await _load_demo_if_empty(nc, settings)
            stopping = asyncio.Event()
            workers = _start_workers(
                nc,
                signer,
                cadence=cadence,
                feed=feed,
                stopping=stopping,
                stop=stop,
                replicas=settings.jetstream_replicas,
            )
            if projector:
                workers.start_projector(settings, stop)
            recovery = workers.watch_store(settings, stopping) if handle.embedded else None
            api = None
            try:
                if http is not None:
                    refusal = recovery.refusal if recovery is not None else None
                    api = await _start_api(
                        settings, *http, _worker_gauges(workers), refusal, local_views=workers.views
                    )
                    print(f"HTTP     {api.url} (OpenAPI: {api.url}/schema)", flush=True)
                    api.task.add_done_callback(lambda _: _resolve(stop, "http"))
                print("serving; stop with Ctrl-C or SIGTERM", flush=True)
                reason = await stop
                workers.raise_failure()
                if api is not None and api.task.done():
                    api.task.result()
                    raise SubcommandError("the HTTP server stopped")
                return reason
            finally:
                if api is not None:
                    await api.stop()
                stopping.set()
                await workers.wait(timeout=10)
                await nc.close()
        except CheckpointerError as e:
            raise SubcommandError(f"the checkpointer stopped: {e}") from e
        except FeedError as e:
            raise SubcommandError(f"the feed stopped: {e}") from e
        finally:
            if handle.origin == "started":
                stop_embedded(settings)
                print("stopped the embedded nats-server this command started", flush=True)


@dataclass
class _Workers:
    """What ``hsl serve`` runs beside the API: the checkpointer and the outcome feed."""

    checkpointer: Checkpointer | None = None
    feed: FeedPublisher | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    projector_stop: threading.Event = field(default_factory=threading.Event)
    views: LocalViews | None = None
    """The views file as the projector here holds it, for the API's reads."""

    def start_projector(self, settings: Settings, stop: asyncio.Future[str]) -> None:
        """Keep the DuckDB views current in a thread (``hsl project``'s loop, in-process)."""
        from service.http.views_reader import LocalViews  # noqa: PLC0415 - start-up: litestar, serve only

        self.views = LocalViews()
        task = asyncio.create_task(
            asyncio.to_thread(_project_in_process, settings, self.projector_stop, self.views)
        )
        task.add_done_callback(lambda _: _resolve(stop, "projector"))
        self.tasks.append(task)
        print(f"views    {views_path(settings)} (kept current)", flush=True)

    def watch_store(self, settings: Settings, stopping: asyncio.Event) -> StoreRecovery:
        """Restart the embedded server when a stream of it went deaf after a failed disk
        write and the disk has room again (``service.nats.store_recovery``)."""
        recovery = StoreRecovery(settings)
        self.tasks.append(asyncio.create_task(recovery.run(stopping)))
        return recovery

    def raise_failure(self) -> None:
        """Raise what stopped a worker that ended before the service did."""
        for task in self.tasks:
            if task.done():
                task.result()

    async def wait(self, timeout: float) -> None:
        self.projector_stop.set()
        for task in self.tasks:
            if not task.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=timeout)


async def _load_demo_if_empty(nc: NatsClient, settings: Settings) -> None:
    """``--demo``: write the demo county (seed 1, scale 1) when the log holds no event yet."""
    try:
        info = await nc.jetstream().stream_info(event_stream())
        stored = int(info.state.messages)
    except nats.js.errors.NotFoundError:
        stored = 0
    if stored:
        print(f"demo     not loaded: the log holds {stored} events already", flush=True)
        return
    summary = await asyncio.to_thread(run_demo, settings, 1)
    print(f"demo     loaded: {summary.total} events (seed 1; see `hsl demo --help`)", flush=True)


def _project_in_process(settings: Settings, stop: threading.Event, views: LocalViews) -> None:
    """Follow the log into the views until ``stop``, sharing the file with the API's reads
    through ``views``."""

    path = views_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_rebuilds(path)  # what killed rebuilds left: as large as the views
    opened = bootstrap.open_application(settings)
    try:
        try:
            con = duckdb.connect(str(path))
        except duckdb.Error as e:
            msg = f"cannot open the views {path} (is `hsl project` running?): {e}"
            raise SubcommandError(msg) from e
        views.share(con)
        service: QueryService | None = None
        try:
            projector = Projector(
                con,
                opened.app.recorder,
                opened.app.name,
                on_stall=views.stall,
            )
            # Other API processes (`hsl serve --no-projector` on this data directory) cannot
            # open the file this one holds: they ask here, as they would ask `hsl project`.
            service = QueryService(
                con,
                opened.url,
                opened.stream,
                name="hsl-serve",
                server_file=opened.handle.state_file,
            )
            service.start()
            projector.follow(stop)
        except (ProjectionError, SchemaMismatchError, QueryServiceError) as e:
            raise SubcommandError(f"the projector stopped: {e}") from e
        finally:
            if service is not None:
                service.stop()
            views.unshare()
            con.close()
    finally:
        opened.close()


def _start_workers(
    nc: NatsClient,
    signer: SignerKey | None,
    *,
    cadence: tuple[int, float],
    feed: bool,
    stopping: asyncio.Event,
    stop: asyncio.Future[str],
    replicas: int = 1,
) -> _Workers:
    """Start the checkpointer (with a signer) and the feed; either ending stops the service."""
    workers = _Workers()
    if signer is not None:
        every, interval = cadence
        workers.checkpointer = Checkpointer(
            nc, event_stream(), signer, every=every, interval=interval, replicas=replicas
        )
        workers.tasks.append(asyncio.create_task(workers.checkpointer.run(stopping)))
        print(f"checkpoints signed by {signer.verifier}", flush=True)
    if feed:
        workers.feed = FeedPublisher(nc, event_stream(), replicas=replicas)
        workers.tasks.append(asyncio.create_task(workers.feed.run(stopping)))
        print(f"feed     {public_stream(event_stream())} (docs/feed.md)", flush=True)
    for task in workers.tasks:
        task.add_done_callback(lambda _: _resolve(stop, "worker"))
    return workers


async def _start_api(
    settings: Settings,
    host: str,
    port: int,
    gauges: Gauges | None,
    store_refusal: Callable[[], Exception | None] | None = None,
    *,
    local_views: LocalViews | None = None,
) -> Any:
    """The HTTP API as a task on this loop (imported here: only ``serve`` needs it)."""
    from service.http.server import ApiError, start_api  # noqa: PLC0415 - serve only

    try:
        return await start_api(settings, host, port, gauges, store_refusal, local_views=local_views)
    except ApiError as e:
        raise SubcommandError(str(e)) from e


def _worker_gauges(workers: _Workers) -> Gauges | None:
    """``/metrics`` gauges of the checkpointer and the feed running in this process, if any."""
    checkpointer, feed = workers.checkpointer, workers.feed
    if checkpointer is None and feed is None:
        return None

    def gauges() -> dict[str, tuple[str, float | None]]:
        found: dict[str, tuple[str, float | None]] = {}
        if checkpointer is not None:
            signed = checkpointer.last_size
            found |= {
                "hsl_checkpoint_tree_size": (
                    "Events covered by the last signed checkpoint.",
                    signed,
                ),
                "hsl_events_since_checkpoint": (
                    "Events read by the checkpointer, not yet under a signed checkpoint.",
                    max(0, checkpointer.tree.size - signed),
                ),
                "hsl_quarantined_checkpoint_messages": (
                    "Messages on the checkpoint subject that are not the log's signed "
                    "checkpoints, skipped by the checkpointer.",
                    checkpointer.quarantine.total,
                ),
            }
        if feed is not None:
            found["hsl_quarantined_feed_messages"] = (
                "Messages of the event log and the public stream the feed skipped as not "
                "events or not its own.",
                feed.quarantine.total,
            )
        return found

    return gauges


def _resolve(stop: asyncio.Future[str], reason: str) -> None:
    if not stop.done():
        stop.set_result(reason)


@contextlib.contextmanager
def _stop_signals() -> Iterator[asyncio.Future[str]]:
    """A future that SIGINT or SIGTERM resolves with the signal's name, while in the block."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[str] = loop.create_future()
    signals = (signal.SIGINT, signal.SIGTERM)

    def received(sig: signal.Signals) -> None:
        if not stop.done():
            stop.set_result(sig.name)

    for sig in signals:
        loop.add_signal_handler(sig, received, sig)
    try:
        yield stop
    finally:
        for sig in signals:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


COMMANDS: Final = (
    Subcommand(
        ("serve",),
        help="run the service: NATS, the HTTP API, checkpoints; until SIGINT/SIGTERM",
        handler=serve,
        arguments=_serve_arguments,
    ),
)
