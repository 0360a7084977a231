"""Reading a JetStream cluster's state: one node's last sequence, a stream's replicas and leader."""

from __future__ import annotations

import json
import urllib.request

import nats


def jsz_last_seq(monitoring_url: str, stream: str) -> int | None:
    """The last sequence one node holds of ``stream`` (its own replica, from /jsz)."""
    query = "accounts=true&streams=true"
    with urllib.request.urlopen(f"{monitoring_url}/jsz?{query}", timeout=2) as reply:
        jsz = json.loads(reply.read())
    for account in jsz.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail.get("name") == stream:
                return int(detail["state"]["last_seq"])
    return None


async def stream_cluster(urls: list[str], stream: str) -> tuple[int, str]:
    """The stream's replicas and the server name of its leader."""
    nc = await nats.connect(urls)
    try:
        info = await nc.jetstream().stream_info(stream)
        cluster = info.cluster
        assert cluster is not None
        return int(info.config.num_replicas or 1), str(cluster.leader)
    finally:
        await nc.close()
