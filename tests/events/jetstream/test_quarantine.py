"""A bad message never stops anything: every reader of a poisoned log skips, counts and names it.

The log is immutable, so whoever may publish on its subjects can store a message that stays
forever. Each test here stores every kind of such message on a real nats-server (an event
without an actor, junk with and without headers, junk on the checkpoint subject, ``{}`` on
the public feed) between honest events, then runs one reader and checks that it went on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import duckdb
import nats
import pytest
from eventsourcing.persistence import MapperDeserialisationError

from events.jetstream.operations import StoredMessage
from events.jetstream.quarantine import (
    QuarantinedError,
    envelope_fault,
    foreign_topic,
    payload_verdict,
)
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.jetstream.stream_layout import ORIGINATOR_VERSION, TOPIC
from projections.rebuild import rebuild, snapshot
from projections.runner import Projector
from replay.bundle import Selection, export_bundle
from replay.bundle_format import CheckpointRecord
from replay.bundle_verifier import verify_bundle
from replay.checkpointer import (
    Checkpointer,
    checkpoint_stream,
    checkpoint_subject,
    read_checkpoints,
)
from replay.history import HistoryReader
from replay.keys import origin_for
from replay.leaf import leaf_bytes, read_envelope
from replay.log_verifier import verify_log
from replay.signed_note import SignerKey
from service.cli.audit import _log_lines
from service.feed.integration import SUBJECT_PREFIX
from service.feed.publisher import FeedPublisher
from service.feed.stream import public_stream
from service.feed.subscriber import subscribe
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import SUPERVISOR


@dataclass
class Poisoned:
    """A log with honest events around one message of each bad kind."""

    s: JetStreamScenario
    url: str
    stream: str
    chain: Chain
    no_actor: int
    """An outcome event without its actor, on a new aggregate's subject: foreign."""
    junk: int
    """Bytes that are no JSON, with an event's headers: undecodable."""
    bare: int
    """Bytes without any header: foreign."""
    on_outcome: int
    """Junk on the chain's outcome's subject: that aggregate can no longer be read."""
    beside: int
    """Junk on a subject of the stream outside the events' (``hsl.hsl.junk``): no reader of
    events sees it, but it is a leaf, and the verifier names it."""
    orphan: int
    """A well-formed outcome event of an outcome that was never drafted: foreign to the views
    and the feed (the verifier, which reads no state, cannot tell)."""
    public: int
    """``{}`` on the public feed's subjects (sequence in the public stream)."""
    checkpoint: int
    """Junk on the checkpoint subject (sequence in the checkpoint stream)."""
    signer: SignerKey

    @property
    def recorder(self) -> JetStreamApplicationRecorder:
        recorder = self.s.app.recorder
        assert isinstance(recorder, JetStreamApplicationRecorder)
        return recorder

    @property
    def log_poison(self) -> dict[int, str]:
        return {
            self.no_actor: "foreign",
            self.junk: "undecodable",
            self.bare: "foreign",
            self.on_outcome: "undecodable",
        }


async def _publish(url: str, subject: str, payload: bytes, headers: dict[str, str] | None) -> int:
    nc = await nats.connect(url)
    try:
        ack = await nc.jetstream().publish(subject, payload, headers=headers)
        return int(ack.seq)
    finally:
        await nc.close()


def publish(url: str, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> int:
    return asyncio.run(_publish(url, subject, payload, headers))


def _event_headers(topic: str, version: int) -> dict[str, str]:
    return {TOPIC: topic, ORIGINATOR_VERSION: str(version)}


def _feed_once(url: str, stream: str) -> FeedPublisher:
    async def run() -> FeedPublisher:
        nc = await nats.connect(url)
        try:
            publisher = FeedPublisher(nc, stream, clock=None)
            await publisher.resume()
            await publisher.step()
            return publisher
        finally:
            await nc.close()

    return asyncio.run(run())


def _checkpoint_once(url: str, stream: str, signer: SignerKey) -> Checkpointer:
    async def run() -> Checkpointer:
        nc = await nats.connect(url)
        try:
            checkpointer = Checkpointer(nc, stream, signer, interval=0)
            await checkpointer.resume()
            await checkpointer.step()
            await checkpointer.checkpoint_now()
            return checkpointer
        finally:
            await nc.close()

    return asyncio.run(run())


@pytest.fixture
def poisoned(nats_url: str) -> Iterator[Poisoned]:
    s = JetStreamScenario(nats_url, wall_clock=True)  # verified: the real clock
    try:
        chain = Chain(s)
        recorder = s.app.recorder
        assert isinstance(recorder, JetStreamApplicationRecorder)
        stream = recorder.layout.stream
        signer = SignerKey.generate(origin_for(stream))
        _feed_once(nats_url, stream)  # makes the public stream
        _checkpoint_once(nats_url, stream, signer)  # makes the checkpoint stream
        honest = recorder.stored_range(1, 1000)
        latest = max(json.loads(m.payload)["recorded_at"] for m in honest)
        drafted = next(
            m for m in recorder.stored_range(1, 1000) if m.headers[TOPIC] == "outcome.drafted"
        )
        document = json.loads(drafted.payload)
        del document["actor"]
        no_actor = publish(
            nats_url,
            recorder.layout.event_subject(uuid4()),
            json.dumps(document).encode(),
            _event_headers("outcome.drafted", 1),
        )
        junk = publish(
            nats_url,
            recorder.layout.event_subject(uuid4()),
            b"\xffnot json\nat all",
            _event_headers("room.established", 1),
        )
        bare = publish(nats_url, recorder.layout.event_subject(uuid4()), b"{}")
        outcome_version: int = s.app.repository.get(chain.outcome).version
        on_outcome = publish(
            nats_url,
            recorder.layout.event_subject(chain.outcome),
            b"junk",
            _event_headers("outcome.closed", outcome_version + 1),
        )
        beside = publish(nats_url, f"{recorder.layout.prefix}.junk", b"junk")
        reported = next(
            m for m in recorder.stored_range(1, 1000) if m.headers[TOPIC] == "outcome.reported"
        )
        forged = json.loads(reported.payload)  # recorded when the last event was: in order
        forged["recorded_at"] = latest
        orphan = publish(
            nats_url,
            recorder.layout.event_subject(uuid4()),
            json.dumps(forged, ensure_ascii=False, separators=(",", ":")).encode(),
            _event_headers("outcome.reported", 1),
        )
        public = publish(nats_url, f"{SUBJECT_PREFIX}.adopted.{chain.room}", b"{}")
        checkpoint = publish(nats_url, checkpoint_subject(stream), b"\x00junk")
        s.town_room()  # honest events after the poison
        s.verified()
        yield Poisoned(
            s,
            nats_url,
            stream,
            chain,
            no_actor,
            junk,
            bare,
            on_outcome,
            beside,
            orphan,
            public,
            checkpoint,
            signer,
        )
    finally:
        s.app.close()


class TestProjector:
    def test_skips_each_bad_message_and_applies_the_events_after_it(
        self, poisoned: Poisoned, tmp_path: Path
    ) -> None:
        """The live projector lists the bad sequences with the position; the rest applies."""
        con = duckdb.connect(str(tmp_path / "live.duckdb"))
        projector = Projector(con, poisoned.recorder, poisoned.s.app.name)
        projector.catch_up(batch_size=3)
        last = poisoned.recorder.max_notification_id()
        assert projector.position == last
        rows = con.execute("SELECT seq, kind, stream, subject FROM quarantine ORDER BY seq")
        found = rows.fetchall()
        expected = {**poisoned.log_poison, poisoned.orphan: "foreign"}
        assert {seq: kind for seq, kind, _, _ in found} == expected
        assert all(stream == poisoned.stream for _, _, stream, _ in found)
        assert con.execute("SELECT count(*) FROM rooms").fetchone() == (3,)
        live = snapshot(con)
        con.close()
        rebuilt = tmp_path / "rebuilt.duckdb"
        rebuild(poisoned.recorder, poisoned.s.app.name, rebuilt)
        with duckdb.connect(str(rebuilt), read_only=True) as fresh:
            assert snapshot(fresh) == live

    def test_the_rebuild_reader_child_passes_them_on(
        self, poisoned: Poisoned, tmp_path: Path
    ) -> None:
        """The rebuild's fast path (the reader child process) skips the same sequences."""
        con = duckdb.connect(str(tmp_path / "child.duckdb"))
        projector = Projector(con, poisoned.recorder, poisoned.s.app.name)
        projector.process_threshold = 1  # read through the child, however short the log
        end = poisoned.recorder.max_notification_id() or 0
        read = projector.fold_all(end, page=4)
        assert read == end - 1  # every event subject's message; not the one beside them
        found = dict(con.execute("SELECT seq, kind FROM quarantine").fetchall())
        assert found == {**poisoned.log_poison, poisoned.orphan: "foreign"}
        assert projector.position == end


class TestFeed:
    def test_publishes_the_changes_after_the_poison_and_skips_it(self, poisoned: Poisoned) -> None:
        """Bad log events and ``{}`` on the public stream neither stop nor enter the feed."""
        publisher = _feed_once(poisoned.url, poisoned.stream)
        assert publisher.position == poisoned.recorder.max_notification_id()
        assert publisher.published > 0  # the verified outcome stored after the poison
        public = public_stream(poisoned.stream)
        assert (public, poisoned.public) in publisher.quarantine.seen
        for seq in [*poisoned.log_poison, poisoned.orphan]:
            assert (poisoned.stream, seq) in publisher.quarantine.seen

        # A later start resumes past the foreign message and publishes nothing twice.
        again = _feed_once(poisoned.url, poisoned.stream)
        assert again.published == 0

    def test_the_subscriber_acks_the_junk_and_prints_the_rest(self, poisoned: Poisoned) -> None:
        _feed_once(poisoned.url, poisoned.stream)
        printed: list[str] = []

        async def run() -> int:
            nc = await nats.connect(poisoned.url)
            try:
                stop = asyncio.Event()
                return await subscribe(
                    nc, poisoned.stream, f"{SUBJECT_PREFIX}.>", "q", stop, out=printed.append,
                    count=6,
                )  # fmt: skip
            finally:
                await nc.close()

        assert asyncio.run(run()) == 6
        assert all(json.loads(line)["type"] == "outcome.status_changed" for line in printed)


class TestCheckpointerAndVerify:
    def test_junk_on_the_checkpoint_subject_and_the_log_is_signed_and_named(
        self, poisoned: Poisoned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The checkpointer signs the whole stream, bad messages included as stored; live and
        offline verification name each one and its kind and verify the rest."""
        checkpointer = _checkpoint_once(poisoned.url, poisoned.stream, poisoned.signer)
        end = poisoned.recorder.max_notification_id()
        assert checkpointer.last_size == end
        where = checkpoint_stream(poisoned.stream)
        assert checkpointer.quarantine.counts == {where: 1}

        async def records() -> list[CheckpointRecord]:
            nc = await nats.connect(poisoned.url)
            try:
                return [CheckpointRecord(c.seq, c.note) for c in await read_checkpoints(
                    nc, poisoned.stream)]  # fmt: skip
            finally:
                await nc.close()

        origin = origin_for(poisoned.stream)
        lines = _log_lines(poisoned.recorder)
        live = verify_log(lines, asyncio.run(records()), poisoned.signer.verifier, origin)
        assert live.tree_size == end
        named = {(f.place, f.seq): f.kind for f in live.quarantined}
        expected = {("event", seq): kind for seq, kind in poisoned.log_poison.items()}
        expected[("event", poisoned.beside)] = "foreign"
        assert named == {**expected, ("checkpoint", poisoned.checkpoint): "undecodable"}

        monkeypatch.setenv("NATS_URL", poisoned.url)
        bundle = tmp_path / "bundle"
        export_bundle(poisoned.recorder, poisoned.url, poisoned.signer, bundle, Selection("all"))
        offline = verify_bundle(bundle, poisoned.signer.verifier)
        assert offline.tree_size == end
        assert {(f.place, f.seq): f.kind for f in offline.quarantined} == expected


class TestReads:
    def test_the_poisoned_aggregate_fails_alone(self, poisoned: Poisoned) -> None:
        """A command on the aggregate whose subject holds junk fails naming it; others work."""
        app = poisoned.s.app
        with pytest.raises(MapperDeserialisationError, match=str(poisoned.chain.outcome)):
            app.record_stall(
                poisoned.chain.outcome, actor=SUPERVISOR, occurred_at=poisoned.s.at(), cause="x"
            )
        poisoned.s.town_room()  # another aggregate is written and read as before

    def test_an_aggregate_whose_last_message_has_no_headers_names_it(
        self, poisoned: Poisoned
    ) -> None:
        room = poisoned.s.town_room()
        seq = publish(poisoned.url, poisoned.recorder.layout.event_subject(room), b"{}")
        with pytest.raises(QuarantinedError, match=f"message {seq}"):
            poisoned.recorder.select_events(room)
        # Its history before the message still reads (as of a version, `hsl replay`).
        assert [e.originator_version for e in poisoned.recorder.select_events(room, lte=1)] == [1]

    def test_history_leaves_the_junk_out(self, poisoned: Poisoned) -> None:
        """A timeline holds the aggregate's events; the junk on its subject is named, not shown."""
        reader = HistoryReader(poisoned.recorder)
        timeline = reader.timeline("outcome", str(poisoned.chain.outcome))
        assert timeline.entries
        assert poisoned.on_outcome not in [e.seq for e in timeline.entries]
        assert (poisoned.stream, poisoned.on_outcome) in reader.quarantine.seen


def test_a_leaf_of_a_message_without_headers_is_its_bytes_with_version_minus_1() -> None:
    """The Merkle leaf of a bare message holds its payload verbatim; its envelope reads back."""
    message = StoredMessage(7, "hsl.hsl.events.x", {}, b"\x00junk", "2026-01-01T00:00:00Z")
    line = leaf_bytes(message)
    found = read_envelope(line)
    assert found is not None
    envelope, payload = found
    assert (envelope.seq, envelope.version, payload) == (7, -1, b"\x00junk")


ROOM_WITHOUT_ACTOR = (
    b'{"type":"room.established","occurred_at":"2024-01-01T00:00:00Z",'
    b'"recorded_at":"2024-01-01T00:00:00Z"}'
)


@pytest.mark.parametrize(
    ("topic", "payload", "kind", "says"),
    [
        ("room.established", b"\xffjunk", "undecodable", "not an event's JSON"),
        ("outcome.mystery", b'{"type":"outcome.mystery"}', "undecodable", "unknown event type"),
        ("room.established", ROOM_WITHOUT_ACTOR, "foreign", "`actor`"),
        (foreign_topic("no Hsl-Topic header"), b"{}", "foreign", "no Hsl-Topic header"),
    ],
)
def test_one_definition_names_the_kind_and_the_reason(
    topic: str, payload: bytes, kind: str, says: str
) -> None:
    """``events.jetstream.quarantine`` says why a stored message is not an event, in one short
    line."""
    verdict = payload_verdict(topic, payload)
    assert isinstance(verdict, tuple)
    assert verdict[0] == kind
    assert says in verdict[1]
    assert "\n" not in verdict[1]


@pytest.mark.parametrize(
    ("token", "topic", "version", "says"),
    [
        (None, "room.established", "1", "names no aggregate"),
        ("s-!!", "room.established", "1", None),  # lenient base64, as the recorder reads it
        ("not-a-uuid", "room.established", "1", "names no aggregate"),
        (str(uuid4()), "", "1", "no Hsl-Topic header"),
        (str(uuid4()), "room.established", None, "no Hsl-Originator-Version header"),
        (str(uuid4()), "room.established", "x1", "is not a version"),
        (str(uuid4()), "room.established", "3", None),
    ],
)
def test_the_envelope_of_an_event(
    token: str | None, topic: str, version: str | None, says: str | None
) -> None:
    fault = envelope_fault(token, topic, version)
    assert (fault is None) if says is None else (fault is not None and says in fault)
