"""``hsl log status`` and ``hsl log stop``: the event log's NATS server."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

import nats.errors

from projections.quarantine_report import quarantine_report, summary_line
from service.cli.log_access import connect_checked, describe_server, event_stream, version_text
from service.cli.registry import Subcommand, SubcommandError
from service.data_dir import views_path
from service.nats.embedded import ServerHandle, connect_url, stop_embedded
from service.settings import Settings

GROUPS: Final = {"log": "the event log's NATS server: inspect it, stop the embedded one"}


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


async def query_status(handle: ServerHandle, settings: Settings) -> LogStatus:
    """Connect to the server behind ``handle`` and list its JetStream streams."""
    nc = await connect_checked(handle)
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
        raise SubcommandError(msg) from e
    except (nats.errors.Error, OSError, TimeoutError) as e:
        msg = f"cannot list JetStream streams at {handle.display_url}: {e or type(e).__name__}"
        raise SubcommandError(msg) from e
    finally:
        await nc.close()
    return LogStatus(
        url=handle.display_url,
        origin=handle.origin,
        pid=handle.pid,
        started_at=handle.started_at,
        data_dir=str(settings.data_dir) if handle.embedded else None,
        server_version=version_text(nc),
        streams=sorted(streams, key=lambda s: s.name),
        user=handle.user,
    )


# --- hsl log status --------------------------------------------------------------------------


def _log_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the status as one JSON object")


def log_status(args: argparse.Namespace, settings: Settings) -> int:
    """Where the log lives and what it holds: one line per stream with counts and sequences."""
    handle = connect_url(settings)
    status = asyncio.run(query_status(handle, settings))
    status = _with_quarantine(status, handle, settings)
    if args.json:
        print(json.dumps(asdict(status), ensure_ascii=False, indent=2))
        return 0
    print(f"server   {status.url} ({describe_server(handle)})")
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
    print(summary_line(status.quarantined, status.quarantine))
    return 0


def _with_quarantine(status: LogStatus, handle: ServerHandle, settings: Settings) -> LogStatus:
    """``status`` with what the views quarantined (``projections.quarantine_report``)."""
    url = ",".join(settings.nats_servers) or handle.url
    report = quarantine_report(views_path(settings), url, event_stream())
    if isinstance(report, str):
        return replace(status, quarantine=[{"unknown": report}])
    return replace(status, quarantined=int(report["count"]), quarantine=list(report["rows"]))


# --- hsl log stop ----------------------------------------------------------------------------


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


COMMANDS: Final = (
    Subcommand(
        ("log", "status"),
        help="start or find the NATS server and list its JetStream streams",
        handler=log_status,
        arguments=_log_status_arguments,
    ),
    Subcommand(
        ("log", "stop"),
        help="stop the embedded NATS server of this data directory",
        handler=log_stop,
    ),
)
