"""Downstream systems on the embedded server: each its own NATS user, added without a restart.

``hsl subscribers add NAME`` keeps the system's password in ``users.json``, rewrites the
server's ``auth.conf`` and has the running server reload it; ``hsl subscribe --as NAME`` then
connects as that user. One system cannot delete or change another's durable consumer.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import msgspec
import nats
import nats.errors
import pytest

from service.cli.main import main
from service.feed.integration import subject_of
from service.feed.stream import ensure_public_stream
from service.nats.embedded import connect_url, embedded_subscribers, embedded_users, stop_embedded
from service.nats.embedded_files import USERS_FILE
from service.nats.embedded_users import accepts
from service.nats.permissions import EVENT_STREAM, PUBLIC_STREAM
from service.nats.subscribers import Subscriber
from service.settings import Settings
from tests.support.feed_stream import status_change

DENIED_WAIT = 0.5
"""Seconds a refused request waits for the reply that never comes."""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    data_dir = tmp_path / "embedded-subscribers"
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("HSL_LOG_LEVEL", raising=False)
    monkeypatch.setenv("HSL_DATA_DIR", str(data_dir))
    settings = Settings.from_env({"HSL_DATA_DIR": str(data_dir)})
    try:
        yield settings
    finally:
        stop_embedded(settings)


def _hsl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def _publish(settings: Settings) -> str:
    """One status change on the public stream, as the feed publishes it; returns its room."""
    room = uuid4()
    event = status_change(room, "reported", "adopted", datetime(2025, 3, 2, 9, tzinfo=UTC))

    async def publish() -> None:
        nc = await nats.connect(connect_url(settings).url)
        try:
            await ensure_public_stream(nc, EVENT_STREAM)
            await nc.jetstream().publish(subject_of(event), msgspec.json.encode(event))
        finally:
            await nc.close()

    asyncio.run(publish())
    return str(room)


def _subscriber(settings: Settings, name: str) -> Subscriber:
    found = {s.name: s for s in embedded_subscribers(settings)}
    return found[name]


def test_added_while_the_server_runs_it_subscribes_at_once(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = connect_url(settings)
    room = _publish(settings)
    credentials = tmp_path / "crm-credentials.json"

    code, added = _hsl(capsys, "subscribers", "add", "crm", "--credentials", str(credentials))
    assert code == 0, added
    assert "subscriber-crm" in added
    crm = _subscriber(settings, "crm")
    assert crm.durables == ("crm",)
    assert connect_url(settings).pid == running.pid  # reloaded, not restarted
    code, lines = _hsl(
        capsys, "subscribe", f"hsl.public.outcome.*.{room}", "--as", "crm", "--count", "1"
    )
    assert code == 0, lines
    assert json.loads(lines.splitlines()[0])["room_id"] == room

    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    handed = json.loads(credentials.read_text())
    assert handed == {
        "user": "subscriber-crm",
        "password": crm.password,
        "inbox_prefix": "_INBOX_hsl_subscriber.crm",
        "durables": ["crm"],
    }
    assert stat.S_IMODE((settings.nats_dir / USERS_FILE).stat().st_mode) == 0o600
    assert isinstance(crm.password, str)
    assert crm.password not in added + lines
    code, listed = _hsl(capsys, "subscribers", "list")
    assert code == 0
    assert "crm  user subscriber-crm" in listed
    assert crm.password not in listed


def test_one_system_cannot_delete_anothers_consumer(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    room = _publish(settings)
    for name in ("crm", "shop"):
        assert _hsl(capsys, "subscribers", "add", name)[0] == 0
    code, out = _hsl(
        capsys, "subscribe", f"hsl.public.outcome.*.{room}", "--as", "crm", "--count", "1"
    )
    assert code == 0, out
    shop = _subscriber(settings, "shop")
    server = connect_url(settings).server_url
    assert server is not None

    async def scenario() -> list[Exception]:
        errors: list[Exception] = []

        async def remember(error: Exception) -> None:
            errors.append(error)

        nc = await nats.connect(shop.url(server), inbox_prefix=shop.inbox_prefix, error_cb=remember)
        try:
            for subject in (
                f"$JS.API.CONSUMER.DELETE.{PUBLIC_STREAM}.crm",
                f"$JS.API.CONSUMER.INFO.{PUBLIC_STREAM}.crm",
                f"$JS.API.CONSUMER.DURABLE.CREATE.{PUBLIC_STREAM}.crm",
            ):
                with pytest.raises(nats.errors.TimeoutError):
                    await nc.request(subject, b"{}", timeout=DENIED_WAIT)
        finally:
            await nc.close()
        return errors

    errors = asyncio.run(scenario())
    assert sum("permissions violation" in str(e).lower() for e in errors) == 3

    async def crm_still_has_it() -> int:
        nc = await nats.connect(connect_url(settings).url)  # as service, which may look
        try:
            info = await nc.jetstream().consumer_info(PUBLIC_STREAM, "crm")
            return int(info.delivered.stream_seq)
        finally:
            await nc.close()

    assert asyncio.run(crm_still_has_it()) == 1  # where crm left it


def test_removed_it_can_no_longer_connect(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    connect_url(settings)
    assert _hsl(capsys, "subscribers", "add", "crm")[0] == 0
    crm = _subscriber(settings, "crm")
    server = connect_url(settings).server_url
    assert server is not None
    assert accepts(server, crm)
    code, out = _hsl(capsys, "subscribers", "remove", "crm")
    assert code == 0, out
    assert not accepts(server, crm)
    assert embedded_subscribers(settings) == ()
    code, out = _hsl(capsys, "subscribe", "hsl.public.outcome.>", "--as", "crm", "--count", "1")
    assert code == 1
    assert "no downstream system 'crm'" in out
    code, out = _hsl(capsys, "subscribers", "remove", "crm")
    assert (code, "no downstream system 'crm'" in out) == (1, True)


def test_its_user_survives_a_restart_and_more_durables_keep_the_password(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _hsl(capsys, "subscribers", "add", "crm")[0] == 0  # before any server ran
    first = _subscriber(settings, "crm")
    assert _hsl(capsys, "subscribers", "add", "crm", "--durable", "crm_old")[0] == 0
    widened = _subscriber(settings, "crm")
    assert widened.durables == ("crm", "crm_old")
    assert widened.password == first.password
    server = connect_url(settings).server_url
    assert server is not None
    assert accepts(server, widened)
    stop_embedded(settings)
    restarted = connect_url(settings).server_url
    assert restarted is not None
    assert accepts(restarted, widened)


def test_a_users_file_from_before_the_downstream_systems_still_serves(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """It holds the shared ``subscriber`` user's password too: ignored, the roles' kept."""
    settings.nats_dir.mkdir(parents=True)
    old = {role: f"old{role}" + "x" * 20 for role in ("service", "projector", "auditor")}
    path = settings.nats_dir / USERS_FILE
    path.write_text(json.dumps({"users": {**old, "subscriber": "oldsubscriber" + "x" * 20}}))
    handle = connect_url(settings)
    assert handle.url.startswith(f"nats://service:{old['service']}@")
    assert _hsl(capsys, "subscribers", "add", "crm")[0] == 0
    users = embedded_users(settings)
    assert users is not None
    assert dict(users.passwords) == old
    assert "subscriber" not in json.loads(path.read_text())["users"]


def test_bad_input_is_named_and_writes_nothing(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for args, named in (
        (("subscribers", "add", "CRM"), "'CRM'"),
        (("subscribers", "add", "crm", "--durable", "a.b"), "'a.b'"),
        (("subscribe", "hsl.public.outcome.>", "--as", "Bad Name"), "'Bad Name'"),
    ):
        code, out = _hsl(capsys, *args)
        assert (code, named in out) == (1, True), out
    assert not (settings.nats_dir / USERS_FILE).exists()
    assert _hsl(capsys, "subscribers", "add", "crm")[0] == 0
    before = (settings.nats_dir / USERS_FILE).read_text()
    code, out = _hsl(capsys, "subscribe", "hsl.public.outcome.>", "--as", "crm", "--durable", "x")
    assert code == 1
    assert "may keep the durables crm, not 'x'" in out
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:9")
    code, out = _hsl(capsys, "subscribers", "add", "shop")
    assert code == 1
    assert "deploy/nats/subscribers.txt" in out
    assert (settings.nats_dir / USERS_FILE).read_text() == before
