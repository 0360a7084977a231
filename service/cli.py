"""The ``hsl`` command line.

Each subcommand is one function registered with :func:`command`; :func:`build_parser` turns the
registry into argparse subparsers, so adding a command is adding a decorated function (nested
ones like ``log status`` name their group first). Errors the user can act on reach stderr as
one ``hsl: error: …`` line with exit code 1; nothing prints a traceback unless
``HSL_LOG_LEVEL=debug``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient

from events.jetstream.connection import LONG_RUNNING, ONE_SHOT, ReconnectPolicy, connect
from events.jetstream.stream_layout import StreamLayout
from events.redact import SECRETS, redact_text
from replay.checkpointer import DEFAULT_EVERY, DEFAULT_INTERVAL, Checkpointer, CheckpointerError
from replay.keys import KeyFileError, load_or_create_signer, origin_for
from replay.signed_note import SignerKey
from service.application import HaoshangliangApplication
from service.data_dir import owner_only
from service.embedded import EmbeddedServerError, ServerHandle, connect_url, stop_embedded
from service.feed import FeedError, FeedPublisher, public_stream
from service.logging import configure_logging
from service.nats_server import NatsServerError, check_server_version
from service.settings import NatsUser, Settings, SettingsError
from service.store_recovery import StoreRecovery

if TYPE_CHECKING:
    from service.http.views import LocalViews

log = structlog.get_logger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]


class CommandError(RuntimeError):
    """A failure the user can act on; its message is printed as one line."""


USER_ERRORS: tuple[type[Exception], ...] = (
    CommandError,
    EmbeddedServerError,
    NatsServerError,
    SettingsError,
)
"""Exceptions printed as ``hsl: error: <message>`` (exit 1) rather than as a crash."""


# --- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One registered subcommand: where it sits, its arguments and the function that runs it."""

    path: tuple[str, ...]
    help: str
    handler: Handler
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    nats_user: NatsUser | None = None
    """The NATS user it connects to the embedded server as; None: :func:`nats_user_of`."""


GROUPS: dict[str, str] = {
    "log": "the event log's NATS server: inspect it, stop the embedded one",
    "subscribers": "the downstream systems of the public feed: one NATS user each",
}
"""Help for command groups (the first word of a nested command)."""

COMMANDS: list[Command] = []

NATS_USERS: dict[tuple[str, ...], NatsUser] = {
    ("project",): "projector",
    ("projections", "rebuild"): "projector",
    ("replay",): "auditor",
    ("audit", "verify"): "auditor",
}
"""The NATS user of the commands registered elsewhere that only read (docs/operations.md).

Every other command is ``service``: it writes the log, checkpoints or the feed (``serve``,
``demo``, ``feed``, ``audit checkpoint|export``), lists every stream (``log status``), or
does not connect at all; ``subscribe --as NAME`` connects as that downstream system's own
user instead (``Settings.nats_subscriber``). Only the embedded server uses this: with
``NATS_URL`` set, the URL's credentials decide.
"""


def nats_user_of(cmd: Command) -> NatsUser:
    """The NATS user ``cmd`` connects as: its own, else :data:`NATS_USERS`, else service."""
    return cmd.nats_user or NATS_USERS.get(cmd.path, "service")


def command(
    *path: str,
    help: str,
    arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    nats_user: NatsUser | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as ``hsl <path…>`` (connecting as ``nats_user``)."""

    def register(handler: Handler) -> Handler:
        COMMANDS.append(
            Command(path=path, help=help, handler=handler, arguments=arguments, nats_user=nats_user)
        )
        return handler

    return register


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one subparser per registered command (groups made on demand)."""
    parser = argparse.ArgumentParser(
        prog="hsl",
        description="haoshangliang: the 有事好商量 consultation audit trail.",
        epilog="Settings come from NATS_URL, HSL_DATA_DIR and HSL_LOG_LEVEL (see README).",
    )
    subparsers: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    }
    for cmd in COMMANDS:
        for depth in range(1, len(cmd.path)):
            group = cmd.path[:depth]
            if group not in subparsers:
                group_parser = subparsers[group[:-1]].add_parser(
                    group[-1], help=GROUPS.get(group[-1], ""), description=GROUPS.get(group[-1])
                )
                subparsers[group] = group_parser.add_subparsers(
                    dest="_".join(group), metavar="COMMAND", required=True
                )
        sub = subparsers[cmd.path[:-1]].add_parser(
            cmd.path[-1], help=cmd.help, description=cmd.help
        )
        if cmd.arguments is not None:
            cmd.arguments(sub)
        sub.set_defaults(handler=cmd.handler, nats_user=nats_user_of(cmd))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``hsl``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        return _fail(str(e))
    configure_logging(settings.log_level)
    SECRETS.remember_url(settings.nats_url)
    settings = replace(settings, nats_user=args.nats_user)
    handler: Handler = args.handler
    try:
        with owner_only(settings.data_dir):  # people's names and secrets: service/data_dir.py
            return handler(args, settings)
    except USER_ERRORS as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        log.debug("unexpected error", exc_info=True)
        return _fail(f"unexpected {type(e).__name__}: {e} (HSL_LOG_LEVEL=debug shows where)")


def _fail(message: str) -> int:
    one_line = " | ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"hsl: error: {redact_text(one_line)}", file=sys.stderr)
    return 1


# --- talking to NATS -------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamStatus:
    """One JetStream stream as ``hsl log status`` reports it."""

    name: str
    messages: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class LogStatus:
    """The answer of ``hsl log status``: which server, how we got it, and its streams."""

    url: str
    """Without a password: the embedded server's address, or ``NATS_URL`` redacted."""
    origin: str
    pid: int | None
    started_at: str | None
    data_dir: str | None
    server_version: str
    streams: list[StreamStatus] = field(default_factory=list)
    user: str | None = None
    """The embedded server's NATS user this command connected as (None: external, or a
    server without users)."""
    quarantined: int | None = None
    """Stored messages of the event log the views skipped as not events (None: unknown)."""
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    """The first of them (stream, seq, subject, kind, reason), or why the count is unknown."""


async def _connect(
    handle: ServerHandle, policy: ReconnectPolicy = ONE_SHOT, name: str = "hsl"
) -> NatsClient:
    """Connect (``policy``: once, or reconnecting for good), check the server version,
    translate nats errors. The first connect is bounded either way."""
    last_error: list[BaseException] = []

    async def remember(error: Exception) -> None:
        last_error[:] = [error]  # only the last: a long-running connection reports many

    try:
        nc = await connect(
            handle.url, name=name, policy=policy, server_file=handle.state_file, error_cb=remember
        )
    except (nats.errors.Error, OSError, TimeoutError) as e:
        cause = last_error[-1] if last_error else e
        msg = f"cannot connect to NATS at {handle.display_url}: {cause or type(cause).__name__}"
        raise CommandError(msg) from e
    version = nc.connected_server_version
    try:
        check_server_version(
            (version.major, version.minor, version.patch),
            f"the NATS server at {handle.display_url}",
        )
    except BaseException:
        await nc.close()
        raise
    return nc


def _version_text(nc: NatsClient) -> str:
    version = nc.connected_server_version
    text = f"{version.major}.{version.minor}.{version.patch}"
    return f"{text}-{version.prerelease}" if version.prerelease else text


async def query_status(handle: ServerHandle, settings: Settings) -> LogStatus:
    """Connect to the server behind ``handle`` and list its JetStream streams."""
    nc = await _connect(handle)
    try:
        jsm = nc.jetstream(timeout=5.0)
        streams: list[StreamStatus] = []
        while True:  # the server pages the stream list
            page = await jsm.streams_info(offset=len(streams))
            if not page:
                break
            streams += [
                StreamStatus(
                    name=str(info.config.name),
                    messages=int(info.state.messages),
                    first_seq=int(info.state.first_seq),
                    last_seq=int(info.state.last_seq),
                )
                for info in page
            ]
    except nats.errors.NoRespondersError as e:
        msg = f"JetStream is not enabled on the NATS server at {handle.display_url}"
        raise CommandError(msg) from e
    except (nats.errors.Error, OSError, TimeoutError) as e:
        msg = f"cannot list JetStream streams at {handle.display_url}: {e or type(e).__name__}"
        raise CommandError(msg) from e
    finally:
        await nc.close()
    return LogStatus(
        url=handle.display_url,
        origin=handle.origin,
        pid=handle.pid,
        started_at=handle.started_at,
        data_dir=str(settings.data_dir) if handle.embedded else None,
        server_version=_version_text(nc),
        streams=sorted(streams, key=lambda s: s.name),
        user=handle.user,
    )


def _describe(handle: ServerHandle) -> str:
    if handle.origin == "external":
        return "external, from NATS_URL"
    how = "started now" if handle.origin == "started" else "reused"
    if handle.user is None:
        return f"embedded, {how}, pid {handle.pid}; without users: `hsl log stop` to restart it"
    return f"embedded, {how}, pid {handle.pid}, as user {handle.user}"


# --- hsl log status --------------------------------------------------------------------------


def _log_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the status as one JSON object")


@command(
    "log",
    "status",
    help="start or find the NATS server and list its JetStream streams",
    arguments=_log_status_arguments,
)
def log_status(args: argparse.Namespace, settings: Settings) -> int:
    """Where the log lives and what it holds: one line per stream with counts and sequences."""
    handle = connect_url(settings)
    status = asyncio.run(query_status(handle, settings))
    status = _with_quarantine(status, handle, settings)
    if args.json:
        print(json.dumps(asdict(status), ensure_ascii=False, indent=2))
        return 0
    print(f"server   {status.url} ({_describe(handle)})")
    print(f"version  nats-server {status.server_version}")
    if status.data_dir is not None:
        print(f"data dir {status.data_dir}")
    if not status.streams:
        print("streams  none")
        return 0
    print(f"streams  {len(status.streams)}")
    rows: list[tuple[Any, ...]] = [("NAME", "MESSAGES", "FIRST SEQ", "LAST SEQ")]
    rows += [(s.name, s.messages, s.first_seq, s.last_seq) for s in status.streams]
    width = max(len(str(row[0])) for row in rows)
    for name, messages, first, last in rows:
        print(f"  {name!s:<{width}}  {messages!s:>10}  {first!s:>10}  {last!s:>10}")
    from projections.quarantine_report import summary_line  # noqa: PLC0415 - read side

    print(summary_line(status.quarantined, status.quarantine))
    return 0


def _with_quarantine(status: LogStatus, handle: ServerHandle, settings: Settings) -> LogStatus:
    """``status`` with what the views quarantined (``projections.quarantine_report``)."""
    from projections.quarantine_report import quarantine_report  # noqa: PLC0415 - read side

    url = ",".join(settings.nats_servers) or handle.url
    path = settings.data_dir / "projections.duckdb"
    report = quarantine_report(path, url, _event_stream())
    if isinstance(report, str):
        return replace(status, quarantine=[{"unknown": report}])
    return replace(status, quarantined=int(report["count"]), quarantine=list(report["rows"]))


# --- hsl log stop ----------------------------------------------------------------------------


@command("log", "stop", help="stop the embedded NATS server of this data directory")
def log_stop(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the embedded server; its data stays in the data directory for the next start."""
    stopped = stop_embedded(settings)
    if stopped is None:
        print(f"no embedded nats-server is running for {settings.data_dir}")
    else:
        print(
            f"stopped the embedded nats-server (pid {stopped.pid}, {stopped.url}); "
            f"its data stays in {settings.nats_dir}"
        )
    return 0


# --- hsl serve -------------------------------------------------------------------------------


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


@command(
    "serve",
    help="run the service: NATS, the HTTP API, checkpoints; until SIGINT/SIGTERM",
    arguments=_serve_arguments,
)
def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run until SIGINT or SIGTERM (later: the projector runs here too)."""
    if args.checkpoint_every < 1 or args.checkpoint_interval < 0:
        raise CommandError("--checkpoint-every must be 1 or more, --checkpoint-interval 0 or more")
    signer = None if args.no_checkpointer else _checkpoint_signer(settings)
    cadence = (args.checkpoint_every, args.checkpoint_interval)
    port = settings.http_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise CommandError(f"--port {port} is not a port number (0-65535)")
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


def _checkpoint_signer(settings: Settings) -> SignerKey:
    try:
        return load_or_create_signer(settings.data_dir, origin_for(_event_stream()))
    except KeyFileError as e:
        raise CommandError(str(e)) from e


def _event_stream() -> str:
    return StreamLayout.for_application(HaoshangliangApplication.name).stream


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
            nc = await _connect(handle, LONG_RUNNING, name="hsl-serve-workers")
            version = _version_text(nc)
            print(
                f"NATS     {handle.display_url} ({_describe(handle)}; nats-server {version})",
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
                    raise CommandError("the HTTP server stopped")
                return reason
            finally:
                if api is not None:
                    await api.stop()
                stopping.set()
                await workers.wait(timeout=10)
                await nc.close()
        except CheckpointerError as e:
            raise CommandError(f"the checkpointer stopped: {e}") from e
        except FeedError as e:
            raise CommandError(f"the feed stopped: {e}") from e
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
        from service.http.views import LocalViews  # noqa: PLC0415 - serve only

        self.views = LocalViews()
        task = asyncio.create_task(
            asyncio.to_thread(_project_in_process, settings, self.projector_stop, self.views)
        )
        task.add_done_callback(lambda _: _resolve(stop, "projector"))
        self.tasks.append(task)
        print(f"views    {settings.data_dir / 'projections.duckdb'} (kept current)", flush=True)

    def watch_store(self, settings: Settings, stopping: asyncio.Event) -> StoreRecovery:
        """Restart the embedded server when a stream of it went deaf after a failed disk
        write and the disk has room again (``service.store_recovery``)."""
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
    from service.demo.command import run_demo  # noqa: PLC0415 - it imports this module

    try:
        info = await nc.jetstream().stream_info(_event_stream())
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
    import duckdb  # noqa: PLC0415 - serve only

    from projections.commands import views_path  # noqa: PLC0415 - it imports this module
    from projections.query_service import QueryService, QueryServiceError  # noqa: PLC0415
    from projections.rebuild import remove_stale_rebuilds  # noqa: PLC0415
    from projections.runner import ProjectionError, Projector  # noqa: PLC0415
    from projections.schema import SchemaMismatchError  # noqa: PLC0415
    from service import bootstrap  # noqa: PLC0415

    path = views_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_rebuilds(path)  # what killed rebuilds left: as large as the views
    opened = bootstrap.open_application(settings)
    try:
        try:
            con = duckdb.connect(str(path))
        except duckdb.Error as e:
            msg = f"cannot open the views {path} (is `hsl project` running?): {e}"
            raise CommandError(msg) from e
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
            raise CommandError(f"the projector stopped: {e}") from e
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
            nc, _event_stream(), signer, every=every, interval=interval, replicas=replicas
        )
        workers.tasks.append(asyncio.create_task(workers.checkpointer.run(stopping)))
        print(f"checkpoints signed by {signer.verifier}", flush=True)
    if feed:
        workers.feed = FeedPublisher(nc, _event_stream(), replicas=replicas)
        workers.tasks.append(asyncio.create_task(workers.feed.run(stopping)))
        print(f"feed     {public_stream(_event_stream())} (docs/feed.md)", flush=True)
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
        raise CommandError(str(e)) from e


Gauges = Callable[[], dict[str, tuple[str, float | None]]]
"""Extra ``/metrics`` gauges: name → (help, value)."""


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


# The read side registers its commands (project, projections rebuild, query) on import.
import projections.commands  # noqa: E402, F401
import replay.audit_commands  # noqa: E402 - registers hsl audit
import replay.commands  # noqa: E402, F401 - registers hsl replay
import service.auth.commands  # noqa: E402 - registers hsl users
import service.demo.command  # noqa: E402, F401 - registers hsl demo
from service.feed import commands as _feed_commands  # noqa: E402, F401 - hsl feed, subscribe

if __name__ == "__main__":
    # Run the imported module's main: the read side registered its commands there, not here.
    from service.cli import main as registered_main

    sys.exit(registered_main())
