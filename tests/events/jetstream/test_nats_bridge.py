"""The bridge that lets synchronous threads share one asyncio NATS connection."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import nats
import pytest
from eventsourcing.persistence import InterfaceError, OperationalError

from events.jetstream.bridge import NatsBridge
from events.jetstream.connection import LONG_RUNNING


@pytest.fixture
def bridge(nats_url: str) -> Iterator[NatsBridge]:
    made = NatsBridge(nats_url, name="bridge-test")
    yield made
    made.close()


async def _rtt(bridge: NatsBridge) -> float:
    return (await bridge.client.rtt()) * 0 + 1.0


class TestNatsBridge:
    def test_lone_caller_gets_result(self, bridge: NatsBridge) -> None:
        """A call from a plain thread returns its coroutine's result."""
        assert bridge.run(_rtt(bridge)) == 1.0

    def test_many_threads_each_get_their_own_results(self, bridge: NatsBridge) -> None:
        """Concurrent callers are all answered, each with its own result."""
        results: dict[int, list[int]] = {}

        async def echo(value: int) -> int:
            await bridge.client.flush()
            return value

        def caller(n: int) -> None:
            results[n] = [bridge.run(echo(n * 1000 + i)) for i in range(200)]

        threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results == {n: [n * 1000 + i for i in range(200)] for n in range(8)}

    def test_caller_inside_another_event_loop_is_served(self, bridge: NatsBridge) -> None:
        """A caller that cannot drive (it runs its own loop) is served by the background thread."""

        async def inside_other_loop() -> float:
            return bridge.run(_rtt(bridge), timeout=10)

        assert asyncio.run(inside_other_loop()) == 1.0

    def test_call_from_its_own_loop_is_refused(self, bridge: NatsBridge) -> None:
        """Blocking the connection's own loop on itself would deadlock: it is refused."""

        async def nested() -> None:
            bridge.run(_rtt(bridge))

        with pytest.raises(InterfaceError, match="inside its own NATS loop"):
            bridge.run(nested())

    def test_subscription_is_served_while_nobody_calls(self, bridge: NatsBridge) -> None:
        """Messages reach a subscription callback with no caller driving the loop."""
        received = threading.Event()

        async def on_msg(_msg: object) -> None:
            received.set()

        bridge.run(bridge.client.subscribe("bridge.test", cb=on_msg))
        bridge.run(bridge.client.flush())

        async def publish_elsewhere() -> None:
            other = await nats.connect(bridge.url)
            await other.publish("bridge.test", b"x")
            await other.close()

        asyncio.run(publish_elsewhere())  # no call on the bridge from here on
        assert received.wait(timeout=5)

    def test_closed_bridge_refuses_calls(self, nats_url: str) -> None:
        """After close, a call fails with a clear error instead of hanging."""
        closing = NatsBridge(nats_url)
        closing.close()
        with pytest.raises(InterfaceError, match="closed"):
            closing.run(asyncio.sleep(0))

    @pytest.mark.parametrize("callers", [1, 3])
    def test_close_releases_callers_in_flight(self, nats_url: str, callers: int) -> None:
        """Calls still in flight when the bridge closes fail at once instead of waiting forever.

        A reader thread that outlived its recorder once kept the whole test process alive.
        """
        closing = NatsBridge(nats_url)
        errors: list[BaseException] = []

        def call_forever() -> None:
            try:
                closing.run(asyncio.sleep(3600))
            except BaseException as e:  # collected and asserted on below
                errors.append(e)

        threads = [threading.Thread(target=call_forever, daemon=True) for _ in range(callers)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while closing._pending < callers and time.monotonic() < deadline:
            time.sleep(0.01)
        closing.close()
        for thread in threads:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in threads)
        assert len(errors) == callers
        assert all(isinstance(e, InterfaceError) and "closed" in str(e) for e in errors)

    def test_unreachable_server_fails_clearly(self) -> None:
        """A server that is not there gives an error naming the URL, not a hang."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url = f"nats://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
            with pytest.raises(OperationalError, match=r"cannot connect to NATS at nats://"):
                NatsBridge(url, policy=replace(LONG_RUNNING, first_connect=1.0))
