"""After a failed disk write the embedded server's stream refuses writes until it restarts;
``service.nats.store_recovery`` restarts it, on its port, once the disk has room again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError

from events.common import Actor
from events.jetstream import commits, operations
from events.jetstream.write_errors import StorageFullError
from events.room import Region
from service.bootstrap import Opened, open_application
from service.nats import store_recovery
from service.nats.embedded import connect_url, find_embedded, stop_embedded
from service.nats.embedded_files import LOG_FILE
from service.nats.store_recovery import ROOM_MAX, ROOM_MIN, StoreRecovery, room_needed
from service.settings import Settings
from tests.support.small_disk import fill_disk, small_disk

CLERK = Actor(id="clerk-1", role="clerk")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings.from_env({"HSL_DATA_DIR": str(tmp_path / "data")})
    try:
        yield replace(settings, nats_user="service")
    finally:
        stop_embedded(settings)


def _room(opened: Opened) -> None:
    opened.app.establish_room(
        actor=CLERK,
        occurred_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
        name="柳溪镇协商议事室",
        level="town",
        region=Region(county="清河县", town="柳溪镇"),
    )


def _critical_write_error(settings: Settings, pid: int, stream: str) -> None:
    """The two lines nats-server 2.15 logs when a stream's disk write fails."""
    with (settings.nats_dir / LOG_FILE).open("a") as log:
        at = "2026/12/01 23:17:46.378205"
        log.write(
            f"[{pid}] {at} [ERR] Filestore [{stream}] Critical write error: write "
            f"{settings.nats_dir}/jetstream/$G/streams/{stream}/msgs/1.blk: no space left\n"
            f"[{pid}] {at} [ERR] JetStream stream '$G > {stream}' critical write error: write "
            f"{settings.nats_dir}/jetstream/$G/streams/{stream}/msgs/1.blk: no space left\n"
        )


class TestRoomNeeded:
    def test_five_percent_between_the_bounds(self) -> None:
        assert room_needed(100 << 20) == ROOM_MIN
        assert room_needed(400 << 20) == 20 << 20
        assert room_needed(250 << 30) == ROOM_MAX


class TestWatch:
    def test_a_healthy_server_is_left_alone(self, settings: Settings) -> None:
        connect_url(settings)
        before = find_embedded(settings)
        recovery = StoreRecovery(settings)
        recovery.step()
        recovery.step()
        assert find_embedded(settings) == before
        assert recovery.stuck is None
        assert recovery.refusal() is None
        assert recovery.restarts == 0

    def test_a_stuck_stream_waits_for_room_then_the_server_restarts_on_its_port(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        connect_url(settings)
        before = find_embedded(settings)
        assert before is not None
        recovery = StoreRecovery(settings)
        recovery.step()  # reads the log up to now: the server's start
        _critical_write_error(settings, before.pid, "hsl")

        monkeypatch.setattr(store_recovery, "_disk_space", lambda _: (1 << 20, 100 << 30))
        recovery.step()
        refusal = recovery.refusal()
        assert isinstance(refusal, StorageFullError)
        assert refusal.store == "hsl"
        assert "nothing was stored" in str(refusal)
        assert "64 MiB free (1 MiB now)" in str(refusal)
        assert find_embedded(settings) == before, "restarted onto a disk still full"

        monkeypatch.undo()
        recovery.step()
        after = find_embedded(settings)
        assert after is not None
        assert after.pid != before.pid
        assert after.url == before.url, "a restart keeps the port"
        assert recovery.refusal() is None
        assert recovery.restarts == 1
        recovery.step()  # the new server's start line is read: nothing stuck any more
        assert recovery.restarts == 1
        assert recovery.stuck is None

    def test_a_server_restarted_meanwhile_is_not_restarted_again(self, settings: Settings) -> None:
        connect_url(settings)
        before = find_embedded(settings)
        assert before is not None
        recovery = StoreRecovery(settings)
        _critical_write_error(settings, before.pid + 100_000, "KV_hsl_idempotency")
        recovery.step()  # a stuck pid that is not the recorded server: nothing to restart
        assert find_embedded(settings) == before
        assert recovery.stuck is None
        assert recovery.restarts == 0


class TestOnAFullDisk:
    def test_writes_resume_by_themselves_once_space_returns(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(operations, "REQUEST_TIMEOUT", 0.5)
        monkeypatch.setattr(commits, "UNAVAILABLE_WAIT", 1.0)
        with small_disk(tmp_path, size="16m") as disk:
            settings = replace(
                Settings.from_env({"HSL_DATA_DIR": str(disk / "data")}), nats_user="service"
            )
            try:
                opened = open_application(settings)
                try:
                    _room(opened)
                    recovery = StoreRecovery(settings)
                    recovery.step()
                    before = find_embedded(settings)
                    filler = fill_disk(disk)
                    for _ in range(20):  # until the full disk shows in the server's log
                        try:
                            _room(opened)
                        except OperationalError:
                            recovery.step()
                            if recovery.stuck is not None:
                                break
                    assert recovery.stuck is not None, "no critical write error was logged"
                    assert isinstance(recovery.refusal(), StorageFullError)

                    filler.unlink()
                    recovery.step()
                    after = find_embedded(settings)
                    assert before is not None
                    assert after is not None
                    assert after.pid != before.pid
                    assert after.url == before.url
                    deadline = time.monotonic() + 30
                    while True:  # the application's connection finds the server where it was
                        try:
                            _room(opened)
                            break
                        except OperationalError:
                            if time.monotonic() > deadline:
                                raise
                            time.sleep(0.2)
                finally:
                    opened.close()
            finally:
                stop_embedded(settings)
