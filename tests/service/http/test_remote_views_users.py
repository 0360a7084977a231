"""The view reads over NATS with the service's users, as compose runs them.

nats-server runs with the ``HSL`` account's users (``service.nats.permissions``) and a small
``max_payload``: the API connects as ``service``, `hsl project` as ``projector`` (without the
right to create streams, as in compose). The projector may answer only on the views' reply
subjects, the API may ask, the auditor may not; replies larger than a message are chunked and
still give the same bytes as a read in this process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import nats
import nats.errors
import pytest

from projections.remote_views import RemoteViews
from projections.view_reads import Ping
from projections.views_wire import HEADER_ROOM, encode_request, query_subject
from service.http.views_reader import LocalViews, ViewsReader
from service.nats.bundled_server import NatsServerProcess
from service.nats.passwords import NatsUsers
from service.nats.permissions import role_permissions
from service.nats.server_config import write_auth_config
from tests.support.http_api import Api, run_lifecycle, serving
from tests.support.nats_users import compose_passwords
from tests.support.paths import REPO_ROOT
from tests.support.remote_views import (
    STREAM,
    answers,
    reading_through,
    start_project,
    stop,
    wait_until_current,
)

MAX_PAYLOAD = 1280
CHUNK = MAX_PAYLOAD - HEADER_ROOM
"""Bytes of a reply chunk: the largest replies here take several."""


@pytest.fixture(scope="module")
def users() -> NatsUsers:
    return NatsUsers.from_env(compose_passwords())


@pytest.fixture(scope="module")
def server(users: NatsUsers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("nats-users")
    auth = write_auth_config(users, base)
    config = base / "server.conf"
    config.write_text(f"max_payload: {MAX_PAYLOAD}\ninclude {auth.name}\n")
    process = NatsServerProcess(store_dir=base / "store", extra_args=["--config", str(config)])
    url = process.start()
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(users: NatsUsers, server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API as the ``service`` user, its data directory shared with the projector."""
    base = tmp_path_factory.mktemp("api")
    url = users.url("service", server)
    with serving(url, base) as api:
        yield api


def test_service_asks_projector_answers_in_chunks(api: Api, users: NatsUsers, server: str) -> None:
    world = run_lifecycle(api)
    path = api.services.views.path
    remote = RemoteViews(users.url("service", server), STREAM, timeout=5)
    process = start_project(path.parent, users.url("projector", server), CREATE_TABLE="no")
    try:
        wait_until_current(remote, api.head())
        with reading_through(api, ViewsReader(path, remote=remote)) as client:
            through_nats = answers(client, api, world)
    finally:
        stop(process)
        remote.close()
    assert through_nats["/readyz"][0] == 200
    assert max(len(body) for _, body in through_nats.values()) > 3 * CHUNK  # chunked
    con = duckdb.connect(str(path))
    local = LocalViews()
    local.share(con)
    try:
        with reading_through(api, ViewsReader(path, local=local)) as client:
            assert answers(client, api, world) == through_nats
    finally:
        local.unshare()
        con.close()


def test_only_the_views_subjects_are_opened(users: NatsUsers, server: str) -> None:
    """The auditor may not ask; the projector answers on the views' replies, not _INBOX."""
    projector = role_permissions("projector")
    assert not any(s.startswith("_INBOX") for s in projector.publish_allow)
    auditor = role_permissions("auditor")
    assert query_subject(STREAM) not in auditor.publish_allow

    async def ask_as_auditor() -> list[Exception]:
        errors: list[Exception] = []

        async def remember(error: Exception) -> None:
            errors.append(error)

        nc = await nats.connect(users.url("auditor", server), error_cb=remember)
        try:
            with pytest.raises(nats.errors.TimeoutError):
                await nc.request(query_subject(STREAM), encode_request(Ping()), timeout=0.5)
        finally:
            await nc.close()
        return errors

    errors = asyncio.run(ask_as_auditor())
    assert any("permissions violation for publish" in str(e).lower() for e in errors), errors


def test_a_projector_without_the_permission_says_so(
    users: NatsUsers, server: str, tmp_path: Path
) -> None:
    """`hsl project` as the auditor (who may read the log, not answer view reads) stops with
    one line naming the subject."""
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "HSL_LOG_LEVEL")}
    env |= {"HSL_DATA_DIR": str(tmp_path), "NATS_URL": users.url("auditor", server)}
    env["CREATE_TABLE"] = "no"
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "project"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"subscribe to {query_subject(STREAM)}" in result.stderr, result.stderr
