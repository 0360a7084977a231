"""``Idempotency-Key`` on commands, and writes whose result is unknown, on a real nats-server.

A retried request with the same key gets the first answer and stores nothing twice: on the
same API, on a second API process on the same log, and after an API restart; a key reused
with another body is refused and writes nothing. A commit whose connection drops after it
was sent answers 503 "result unknown" (never "not recorded"), and a retry with its key
answers the first result once the log is reachable again.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from events.jetstream import commits, operations
from events.jetstream.idempotency_store import JetStreamIdempotencyStore, KeyRecord
from service.auth.users import Grant, UserStore
from service.http import idempotency
from service.http.idempotency import HEADER, REPLAYED_HEADER
from tests.support.ack_dropping_proxy import AckDroppingProxy
from tests.support.http_api import TOWN_SCOPE
from tests.support.http_instance import AT, instance, room, stored


class TestReplay:
    def test_retry_returns_the_first_answer_and_stores_once(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        users, token = people
        with instance(nats_url, users, token, tmp_path) as api:
            first = api.post("/rooms", room(AT), key="create-room-1")
            assert first.status_code == 201, first.text
            assert first.headers[REPLAYED_HEADER] == "false"
            count = stored(nats_url)
            again = api.post("/rooms", room(AT), key="create-room-1")
            assert again.status_code == 201
            assert again.content == first.content
            assert again.headers[REPLAYED_HEADER] == "true"
            assert stored(nats_url) == count
            # without the key, the same body is a new request
            other = api.post("/rooms", room(AT))
            assert other.status_code == 201
            assert other.json()["id"] != first.json()["id"]
            assert stored(nats_url) == count + 1

    def test_command_on_an_aggregate_is_not_applied_twice(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        users, token = people
        with instance(nats_url, users, token, tmp_path) as api:
            room_id = api.post("/rooms", room(AT)).json()["id"]
            plan = {"occurred_at": AT, "year": 2024, "planned_consultations": 3}
            first = api.post(f"/rooms/{room_id}/plans", plan, key="plan-2024")
            assert first.status_code == 200, first.text
            count = stored(nats_url)
            again = api.post(f"/rooms/{room_id}/plans", plan, key="plan-2024")
            assert (again.status_code, again.content) == (200, first.content)
            assert stored(nats_url) == count
            versions = api.app.recorder.select_events(uuid.UUID(room_id))
            assert len(versions) == 2

    def test_key_reused_with_another_body_is_refused_and_writes_nothing(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        users, token = people
        with instance(nats_url, users, token, tmp_path) as api:
            assert api.post("/rooms", room(AT), key="k-1").status_code == 201
            count = stored(nats_url)
            reused = api.post("/rooms", room(AT, name="另一个议事室"), key="k-1")
            assert reused.status_code == 422
            problem = reused.json()
            assert problem["type"] == "urn:hsl:problem:idempotency-key-reused"
            assert problem["field"] == HEADER
            assert "Idempotency-Key" in problem["detail"]
            assert stored(nats_url) == count

    @pytest.mark.parametrize(
        "key",
        ["", "has space", "x" * 256, "tab\there", "é-not-ascii"],
        ids=["empty", "space", "too-long", "control", "non-ascii"],
    )
    def test_malformed_key_is_a_400_naming_the_header(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path, key: str
    ) -> None:
        users, token = people
        with instance(nats_url, users, token, tmp_path) as api:
            before = api.app.recorder.max_notification_id() or 0
            response = api.client.post(
                "/rooms",
                json=room(AT),
                headers=[
                    (b"Authorization", f"Bearer {token}".encode()),
                    (HEADER.encode(), key.encode()),
                ],
            )
            assert response.status_code == 400, response.text
            assert response.json()["field"] == HEADER
            assert (api.app.recorder.max_notification_id() or 0) == before

    def test_keys_are_per_caller(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        users, token = people
        _, other = users.add("clerk-2", "clerk-2", [Grant(role="clerk", scope=TOWN_SCOPE)])
        with instance(nats_url, users, token, tmp_path) as api:
            mine = api.post("/rooms", room(AT), key="same-key")
            api.token = other
            theirs = api.post("/rooms", room(AT), key="same-key")
            assert theirs.status_code == 201
            assert theirs.headers[REPLAYED_HEADER] == "false"
            assert theirs.json()["id"] != mine.json()["id"]

    def test_a_claim_still_being_recorded_answers_409_and_writes_nothing(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        """A claim whose events are not in the log, made moments ago (another process is
        committing it): the retry is told to come back, and does not run the command."""
        users, token = people
        with instance(nats_url, users, token, tmp_path) as api:
            first = api.post("/rooms", room(AT), key="busy")
            store = JetStreamIdempotencyStore(api.app.recorder)  # type: ignore[arg-type]
            key_id = _key_id("clerk-1", "busy")
            entry = store.get(key_id)
            assert entry is not None
            assert entry.record.state == "done"
            fake = KeyRecord(
                state="pending",
                fingerprint=entry.record.fingerprint,
                status=201,
                body=first.text,
                events=tuple(type(e)(str(uuid.uuid4()), 1, e.digest) for e in entry.record.events),
            )
            store.put(key_id, fake, entry.revision)
            count = stored(nats_url)
            busy = api.post("/rooms", room(AT), key="busy")
            assert busy.status_code == 409
            assert busy.json()["type"] == "urn:hsl:problem:idempotency-key-busy"
            assert int(busy.headers["Retry-After"]) > 0
            assert stored(nats_url) == count


def _key_id(caller: str, key: str) -> str:
    return hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()


class TestAcrossProcesses:
    def test_replay_on_another_api_process_and_after_a_restart(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        users, token = people
        with instance(nats_url, users, token, tmp_path / "a") as one:
            first = one.post("/rooms", room(AT), key="shared-key")
            assert first.status_code == 201
            count = stored(nats_url)
            with instance(nats_url, users, token, tmp_path / "b") as two:
                again = two.post("/rooms", room(AT), key="shared-key")
                assert (again.status_code, again.content) == (201, first.content)
                assert again.headers[REPLAYED_HEADER] == "true"
                mismatch = two.post("/rooms", room(AT, name="别的"), key="shared-key")
                assert mismatch.status_code == 422
        with instance(nats_url, users, token, tmp_path / "c") as restarted:
            after = restarted.post("/rooms", room(AT), key="shared-key")
            assert (after.status_code, after.content) == (201, first.content)
        assert stored(nats_url) == count


class TestResultUnknown:
    @pytest.fixture
    def proxy(self, nats_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AckDroppingProxy]:
        """A proxy that can lose an ack and the connection, with short waits."""
        monkeypatch.setattr(operations, "REQUEST_TIMEOUT", 0.5)
        monkeypatch.setattr(commits, "UNAVAILABLE_WAIT", 1.0)
        made = AckDroppingProxy(nats_url)
        yield made
        made.close()

    def test_connection_lost_after_send_is_result_unknown_then_the_key_answers(
        self,
        nats_url: str,
        proxy: AckDroppingProxy,
        people: tuple[UserStore, str],
        tmp_path: Path,
    ) -> None:
        users, token = people
        with instance(proxy.url, users, token, tmp_path) as api:
            assert api.post("/rooms", room(AT)).status_code == 201  # streams made, connected
            before = stored(nats_url)
            proxy.drop_next_ack("hsl", then_cut=True)
            lost = api.post("/rooms", room(AT, name="断线时的议事室"), key="lost-ack")
            assert proxy.dropped.is_set()
            assert lost.status_code == 503, lost.text
            problem = lost.json()
            assert problem["type"] == "urn:hsl:problem:result-unknown"
            assert "本次未记录" not in problem["detail"]
            assert "Idempotency-Key" in problem["detail"]
            assert stored(nats_url) == before + 1  # it was stored: the answer was lost
            proxy.heal()
            retry = _eventually(
                lambda: api.post("/rooms", room(AT, name="断线时的议事室"), key="lost-ack")
            )
            assert retry.status_code == 201, retry.text
            assert retry.headers[REPLAYED_HEADER] == "true"
            assert stored(nats_url) == before + 1
            created = uuid.UUID(retry.json()["id"])
            assert len(api.app.recorder.select_events(created)) == 1

    def test_unknown_result_without_a_key_names_where_to_look(
        self,
        nats_url: str,
        proxy: AckDroppingProxy,
        people: tuple[UserStore, str],
        tmp_path: Path,
    ) -> None:
        users, token = people
        with instance(proxy.url, users, token, tmp_path) as api:
            room_id = api.post("/rooms", room(AT)).json()["id"]
            proxy.drop_next_ack("hsl", then_cut=True)
            plan = {"occurred_at": AT, "year": 2024, "planned_consultations": 3}
            lost = api.post(f"/rooms/{room_id}/plans", plan)
            assert lost.status_code == 503
            assert lost.json()["type"] == "urn:hsl:problem:result-unknown"
            assert room_id in lost.json()["detail"]
            proxy.heal()

    def test_lost_ack_alone_is_resolved_before_answering(
        self,
        nats_url: str,
        proxy: AckDroppingProxy,
        people: tuple[UserStore, str],
        tmp_path: Path,
    ) -> None:
        """The connection stays up, only the ack is lost: the recorder's retry with the
        same message ids finds the commit stored, and the request simply succeeds."""
        users, token = people
        with instance(proxy.url, users, token, tmp_path) as api:
            assert api.post("/rooms", room(AT)).status_code == 201
            before = stored(nats_url)
            proxy.drop_next_ack("hsl")
            response = api.post("/rooms", room(AT, name="丢了确认的议事室"))
            assert proxy.dropped.is_set()
            assert response.status_code == 201
            assert stored(nats_url) == before + 1


def _eventually(call: Any, attempts: int = 40) -> Any:
    """The first answer that is not a 503 while the connection comes back."""
    response = call()
    for _ in range(attempts):
        if response.status_code != 503:
            return response
        time.sleep(0.25)
        response = call()
    return response


class TestConcurrentRetries:
    def test_the_same_key_sent_at_once_is_recorded_once(
        self, nats_url: str, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        """Eight copies of one request at once, over two API processes: one is recorded,
        every other answers its result or "being recorded"; nothing is stored twice."""
        users, token = people
        with (
            instance(nats_url, users, token, tmp_path / "a") as one,
            instance(nats_url, users, token, tmp_path / "b") as two,
        ):
            assert one.post("/rooms", room(AT)).status_code == 201  # streams and bucket made
            assert two.post("/rooms", room(AT), key="warm").status_code == 201
            before = stored(nats_url)
            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(
                    pool.map(
                        lambda i: (one, two)[i % 2].post("/rooms", room(AT, "同时"), key="at-once"),
                        range(8),
                    )
                )
            statuses = sorted(a.status_code for a in answers)
            assert set(statuses) <= {201, 409}, [a.text for a in answers]
            assert 201 in statuses
            assert len({a.content for a in answers if a.status_code == 201}) == 1
            assert stored(nats_url) == before + 1
            final = one.post("/rooms", room(AT, "同时"), key="at-once")
            assert final.status_code == 201
            assert final.headers[REPLAYED_HEADER] == "true"


class TestLapsedClaim:
    def test_a_stalled_first_run_and_its_retry_create_one_aggregate(
        self,
        nats_url: str,
        people: tuple[UserStore, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The first run of a keyed create stalls between its claim and its commit for longer
        than the claim's lease; the retry, on another process, runs the command again and
        commits. When the stalled run wakes and commits too, the log refuses it (the keyed
        ids are the same), and it answers the retry's result: one room, not two."""
        monkeypatch.setattr(idempotency, "LEASE", timedelta(seconds=0.5))
        users, token = people
        with (
            instance(nats_url, users, token, tmp_path / "a") as stalled,
            instance(nats_url, users, token, tmp_path / "b") as retry,
        ):
            assert retry.post("/rooms", room(AT), key="warm").status_code == 201
            before = stored(nats_url)
            wake = threading.Event()
            saving = threading.Event()
            real_insert = stalled.app.recorder.insert_events

            def stalled_insert(*args: Any, **kwargs: Any) -> Any:
                saving.set()
                assert wake.wait(30)
                return real_insert(*args, **kwargs)

            monkeypatch.setattr(stalled.app.recorder, "insert_events", stalled_insert)
            answers: list[Any] = []
            first = threading.Thread(
                target=lambda: answers.append(stalled.post("/rooms", room(AT, "迟到"), key="late"))
            )
            first.start()
            assert saving.wait(30), "the first run never reached its commit"
            time.sleep(0.6)  # past the lease: its claim lapses
            second = retry.post("/rooms", room(AT, "迟到"), key="late")
            assert second.status_code == 201, second.text
            assert second.headers[REPLAYED_HEADER] == "false"
            wake.set()
            first.join(30)
            (late,) = answers
            assert late.status_code == 201, late.text
            assert late.headers[REPLAYED_HEADER] == "true"
            assert late.content == second.content
            assert stored(nats_url) == before + 1
