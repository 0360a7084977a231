"""How the commands reach the log: its stream, the application on it, a checked NATS
connection, the server behind it and the key that signs its checkpoints.

Shared by the command modules of ``service.cli``; every failure comes out as a
:class:`~service.cli.registry.SubcommandError` (one ``hsl: error:`` line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import nats.errors
from nats.aio.client import Client as NatsClient

from events.jetstream.connection import ONE_SHOT, ReconnectPolicy, connect
from events.jetstream.stream_layout import StreamLayout
from replay.keys import KeyFileError, load_or_create_signer, origin_for
from replay.signed_note import SignerKey
from service import bootstrap
from service.application import HaoshangliangApplication
from service.cli.registry import SubcommandError
from service.nats.bundled_server import check_server_version
from service.nats.embedded import ServerHandle, connect_url
from service.settings import Settings


def event_stream() -> str:
    """The JetStream stream holding the application's events."""
    return StreamLayout.for_application(HaoshangliangApplication.name).stream


@contextlib.contextmanager
def opened_application(settings: Settings) -> Iterator[bootstrap.Opened]:
    """The application on the JetStream log, through ``service.bootstrap`` (one line if down);
    closed when the block ends."""
    try:
        opened = bootstrap.open_application(settings)
    except bootstrap.BootstrapError as e:
        raise SubcommandError(str(e)) from e
    try:
        yield opened
    finally:
        opened.close()


def answering_server(settings: Settings) -> ServerHandle:
    """The log's NATS server (the embedded one started if need be), checked to answer."""
    handle = connect_url(settings)
    try:
        bootstrap.probe(handle.url)
    except bootstrap.BootstrapError as e:
        raise SubcommandError(str(e)) from e
    return handle


def checkpoint_signer(settings: Settings) -> SignerKey:
    """The key that signs the log's checkpoints, made in the data directory on first use."""
    try:
        return load_or_create_signer(settings.data_dir, origin_for(event_stream()))
    except KeyFileError as e:
        raise SubcommandError(str(e)) from e


async def connect_checked(
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
        raise SubcommandError(msg) from e
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


def version_text(nc: NatsClient) -> str:
    """The connected server's version, e.g. ``2.11.4`` or ``2.12.0-RC.1``."""
    version = nc.connected_server_version
    text = f"{version.major}.{version.minor}.{version.patch}"
    return f"{text}-{version.prerelease}" if version.prerelease else text


def describe_server(handle: ServerHandle) -> str:
    """Which server this is, for a command's first line: external, or the embedded one."""
    if handle.origin == "external":
        return "external, from NATS_URL"
    how = "started now" if handle.origin == "started" else "reused"
    if handle.user is None:
        return f"embedded, {how}, pid {handle.pid}; without users: `hsl log stop` to restart it"
    return f"embedded, {how}, pid {handle.pid}, as user {handle.user}"
