"""``hsl serve`` on a log poisoned with the service user's own credentials keeps running.

Published as an attacker holding the service user's password would (the embedded server's
users, from the data directory): an event without an actor, junk with and without an event's
headers, junk on the checkpoint subject, ``{}`` on the public feed. Serve goes on applying,
publishing and signing the honest events after them, starts again on that log, and the
record names each one: ``/metrics``, ``hsl log status``, ``hsl audit verify``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import nats

from events.common import Actor
from events.jetstream.operations import direct_get_range
from events.jetstream.stream_layout import ORIGINATOR_VERSION, TOPIC, StreamLayout
from events.room import Region
from replay.checkpointer import checkpoint_subject
from service.application import HaoshangliangApplication
from service.bootstrap import application_env
from service.feed.integration import SUBJECT_PREFIX
from service.nats.embedded import connect_url
from service.settings import Settings
from tests.support.hsl_commands import await_metric, hsl, hsl_serve

CLERK = Actor(id="clerk-1", role="clerk")


async def _publish(url: str, subject: str, payload: bytes, headers: dict[str, str] | None) -> int:
    nc = await nats.connect(url)
    try:
        return int((await nc.jetstream().publish(subject, payload, headers=headers)).seq)
    finally:
        await nc.close()


def publish(url: str, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> int:
    return asyncio.run(_publish(url, subject, payload, headers))


def establish_room(url: str, town: str) -> None:
    app = HaoshangliangApplication(env=application_env(url))
    try:
        app.establish_room(
            actor=CLERK,
            occurred_at=datetime.now(UTC),
            name=f"{town}有事好商量协商室",
            level="town",
            region=Region(county="淮城县", town=town),
        )
    finally:
        app.close()


def started(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """`hsl serve` running: the process, its API's address and the verifier key."""
    proc = hsl_serve(data_dir, "--checkpoint-interval", "0.2", stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(6)]
    assert lines[5].startswith("HTTP     http://127.0.0.1:"), lines
    return proc, lines[5].split()[1], lines[2].split()[-1]


def stopped(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


def test_serve_rides_over_every_kind_of_bad_message(data_dir: Path, tmp_path: Path) -> None:
    layout = StreamLayout.for_application(HaoshangliangApplication.name)
    proc, api, key = started(data_dir)
    try:
        url = connect_url(Settings.from_env({"HSL_DATA_DIR": str(data_dir)})).url
        assert url.startswith("nats://service:")  # the service user's credentials
        establish_room(url, "淮城镇")
        await_metric(api, "hsl_checkpoint_tree_size 1")  # the checkpoint stream exists
        honest = json.loads(asyncio.run(_first_payload(url, layout.stream, layout.events_filter)))
        del honest["actor"]
        no_actor = publish(
            url,
            layout.event_subject(uuid4()),
            json.dumps(honest).encode(),
            {TOPIC: "room.established", ORIGINATOR_VERSION: "1"},
        )
        junk = publish(
            url,
            layout.event_subject(uuid4()),
            b"\xffjunk",
            {TOPIC: "room.established", ORIGINATOR_VERSION: "1"},
        )
        bare = publish(url, layout.event_subject(uuid4()), b"{}")
        publish(url, f"{SUBJECT_PREFIX}.adopted.{uuid4()}", b"{}")
        publish(url, checkpoint_subject(layout.stream), b"junk")
        establish_room(url, "南河镇")
        last = bare + 1
        await_metric(api, f"hsl_views_position {last}")
        await_metric(api, "hsl_quarantined_events 3")
        await_metric(api, f"hsl_checkpoint_tree_size {last}")
        await_metric(api, "hsl_quarantined_checkpoint_messages 1")  # passed over once
        assert proc.poll() is None, "serve stopped"
    finally:
        assert stopped(proc) == 0

    # Started again on the poisoned log (it used to exit within a second, every time).
    proc, api, key = started(data_dir)
    try:
        url = connect_url(Settings.from_env({"HSL_DATA_DIR": str(data_dir)})).url
        establish_room(url, "北河镇")
        await_metric(api, f"hsl_views_position {last + 1}")
        await_metric(api, f"hsl_checkpoint_tree_size {last + 1}")
        await_metric(api, "hsl_quarantined_feed_messages 4")  # three in the log, `{}`
        assert proc.poll() is None, "serve stopped"

        status = hsl("log", "status", data_dir=data_dir)
        assert status.returncode == 0, status.stderr
        assert "quarantined  3 messages that are not events" in status.stdout
        assert f"hsl {no_actor} foreign" in status.stdout

        live = hsl("audit", "verify", "--live", "--key", key, data_dir=data_dir)
        assert live.returncode == 0, live.stderr
        assert live.stdout.startswith("OK ")
        for seq, kind in ((no_actor, "foreign"), (junk, "undecodable"), (bare, "foreign")):
            assert f"event {seq}: {kind}" in live.stdout
        assert "checkpoint " in live.stdout

        bundle = tmp_path / "bundle"
        export = hsl("audit", "export", "-o", str(bundle), data_dir=data_dir)
        assert export.returncode == 0, export.stderr
        offline = hsl("audit", "verify", str(bundle), "--key", key, data_dir=data_dir)
        assert offline.returncode == 0, offline.stderr
        assert f"event {junk}: undecodable" in offline.stdout
    finally:
        assert stopped(proc) == 0

    rebuilt = hsl("projections", "rebuild", data_dir=data_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "skipped 3 stored messages that are not events" in rebuilt.stderr
    assert f"hsl message {bare} " in rebuilt.stderr


async def _first_payload(url: str, stream: str, subjects: str) -> bytes:
    nc = await nats.connect(url)
    try:
        page, _ = await direct_get_range(nc, stream, subjects, 1, 1)
        return page[0].payload
    finally:
        await nc.close()
