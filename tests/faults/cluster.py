"""Scenario 2: SIGKILL of the stream leader, then of a follower, of a three-node cluster.

Three bundled servers form one JetStream cluster on loopback (``service.nats.bundled_server``'s
``NatsCluster``, as the cluster tests run compose's ``cluster`` profile); `hsl serve` runs on
it with ``NATS_URL`` listing the nodes and ``JETSTREAM_REPLICAS=3``, under HTTP and direct
writes. The node leading the event stream is SIGKILLed; once writes are acknowledged again
(or the wait ends) it is started again on its port, as a supervisor would, and when it has
caught up the follower holding `hsl serve`'s own connection (else the busiest) is SIGKILLed
and later restarted the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request

from service.nats.bundled_server import NatsCluster, NatsServerProcess
from tests.faults.figures import MARK, Ledger, Row, match, seconds
from tests.faults.load import (
    DirectLoad,
    HttpLoad,
    HttpTarget,
    probe_idempotency,
    ride_out,
    wait_recovered,
)
from tests.faults.log import STREAM, stored_log, stream_state
from tests.faults.procs import Workspace, last_event
from tests.faults.scenario import Options, Scenario
from tests.support.nats_cluster import jsz_last_seq, stream_cluster

RECOVERY_WAIT = 35.0
CATCH_UP_WAIT = 30.0
SERVE_CONNECTION = "hsl"
"""The name of `hsl serve`'s own NATS connection (``service.cli.serve``), which its workers use."""


def run(ws: Workspace, options: Options) -> list[Row]:
    cluster = NatsCluster(ws.base / "cluster")
    cluster.start()
    try:
        return _under_load(ws, cluster)
    finally:
        for node in cluster.nodes:
            node.stop()


def _under_load(ws: Workspace, cluster: NatsCluster) -> list[Row]:
    ws.nats_url = cluster.url
    token = ws.clerk()
    serve, url = ws.serve(JETSTREAM_REPLICAS="3")
    target = HttpTarget(url, token)
    target.idempotent, note = probe_idempotency(target)
    ws.note(note)
    http = HttpLoad(target, Ledger("HTTP writes (POST /rooms, 4 writers)", f"{MARK}s2http"))
    http.start()
    direct = DirectLoad(ws, f"{MARK}s2direct", JETSTREAM_REPLICAS="3")
    loads = [lambda: http.ledger, lambda: direct.ledger]
    wait_recovered(loads, 0.0, min(30.0, ws.left()))
    time.sleep(2.0)
    recoveries: list[list[float | None]] = []
    killed: list[NatsServerProcess] = []
    for role in ("leader", "follower"):
        ws.check_time(f"killing the {role}")
        node = _node(cluster, role, killed)
        killed.append(node)
        held = _clients(node)[0]
        os.kill(node.pid or 0, signal.SIGKILL)
        fault = time.monotonic()
        wait = min(RECOVERY_WAIT, max(5.0, ws.left() - 60))
        recoveries.append(wait_recovered(loads, fault, wait))
        at_end = ride_out(ws, fault, loads)
        _restart(node)
        caught_up = _catch_up(cluster, node)
        ws.note(
            f"{role} {node.extra_args[1]} ({'held' if held else 'did not hold'} `hsl serve`'s "
            f"own connection) SIGKILLed, restarted on its port after "
            f"{time.monotonic() - fault:.1f} s; {'caught up' if caught_up else 'did NOT catch up'}"
        )
    http.stop()
    direct.stop()
    alive = serve.alive()
    code = serve.stop()
    ws.note(
        "`hsl serve` rode out both faults"
        if alive
        else f"`hsl serve` exited by itself ({code}): {last_event(serve)}"
    )
    for stream in (STREAM, f"{STREAM}-checkpoints", f"{STREAM}-public"):
        messages, replicas = stream_state(ws, stream)
        ws.note(f"stream {stream}: {messages} messages, {replicas} replicas")
    stored = stored_log(ws)
    verify = ws.verify()
    rows = []
    for index, ledger in enumerate((http.ledger, direct.ledger)):
        row = match(ledger, stored.markers)
        row.recover = "; ".join(
            f"{role} {seconds(r[index])}"
            for role, r in zip(("leader", "follower"), recoveries, strict=False)
        )
        row.verify, row.check = verify, at_end[index]
        rows.append(row)
    return rows


def _node(cluster: NatsCluster, role: str, killed: list[NatsServerProcess]) -> NatsServerProcess:
    """The node leading the event stream, or one following it that was not killed before."""
    live = [n.url for n in cluster.nodes if n.process and n.process.poll() is None]
    _, leader = asyncio.run(stream_cluster(live, STREAM))
    found = [
        node
        for node in cluster.nodes
        if (node.extra_args[1] == leader) == (role == "leader") and node not in killed
    ]
    if found:  # of the followers, the one holding serve's connection, else the busiest
        return max(found, key=_clients)
    raise AssertionError(f"no {role} among {[n.extra_args[1] for n in cluster.nodes]}")


def _clients(node: NatsServerProcess) -> tuple[bool, int]:
    """Whether ``node`` holds `hsl serve`'s own connection (named ``hsl``: its checkpointer
    and feed), and how many client connections it holds (its monitoring ``/connz``)."""
    try:
        with urllib.request.urlopen(f"{node.monitoring_url}/connz", timeout=2) as reply:
            connz = json.loads(reply.read())
    except (OSError, ValueError):
        return False, 0
    names = [c.get("name") for c in connz.get("connections") or []]
    return SERVE_CONNECTION in names, int(connz.get("num_connections", 0))


def _restart(node: NatsServerProcess) -> None:
    """Start a killed node again with its store and on its client port."""
    node.port = int(node.url.rsplit(":", 1)[1])
    node.start()


def _catch_up(cluster: NatsCluster, node: NatsServerProcess) -> bool:
    """Wait until ``node``'s replica of the stream holds what the others hold."""
    deadline = time.monotonic() + CATCH_UP_WAIT
    while time.monotonic() < deadline:
        seqs = [jsz_last_seq(n.monitoring_url, STREAM) for n in cluster.nodes]
        others = [s for n, s in zip(cluster.nodes, seqs, strict=True) if n is not node]
        mine = seqs[cluster.nodes.index(node)]
        if mine is not None and others and mine >= min(s or 0 for s in others):
            return True
        time.sleep(0.2)
    return False


SCENARIO = Scenario(
    key="2",
    title="SIGKILL of the stream leader, then of a follower, of a three-node cluster",
    run=run,
    timeout=200,
    what=(
        "Three nats-server nodes on loopback; `hsl serve` with NATS_URL listing them and "
        "JETSTREAM_REPLICAS=3, 4 HTTP writers and a direct writer. The event stream's leader "
        "is SIGKILLed; after writes recover (or 35 s) it is restarted on its port and, once it "
        "caught up, the follower holding `hsl serve`'s own connection (its checkpointer and "
        "feed; else the busiest follower) is SIGKILLed and restarted the same way."
    ),
)
