"""The query service's wire and its snapshot: values keep their types; no half-applied batch.

A reply carries what DuckDB's ``fetchall`` gives, typed (the API encodes the same values as
when it reads in-process). A read answered while the projector is in the middle of a batch
sees the views before that batch, whole; after the commit, after it.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import duckdb
import pytest

from projections.query_service import QueryService
from projections.remote_views import RemoteViews
from projections.runner import Projector
from projections.view_reads import Position, Rooms, Topics, run_read
from projections.views_wire import (
    UnsupportedValueError,
    ViewsQueryError,
    answer,
    decode_reply,
    encode_result,
)
from tests.support.http_api import Api, run_lifecycle

STREAM = "hsl"

VALUES: list[Any] = [
    None,
    True,
    0,
    -(2**63),
    2**64 - 1,
    2**127 - 1,  # HUGEINT
    -(2**100),
    1.5,
    float("inf"),
    "柳溪镇",
    b"\x00\xff",
    date(2024, 2, 29),
    datetime(2024, 3, 1, 9, 30, 0, 123456),
    datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))),
    time(12, 0, 1, 5),
    Decimal("1.50"),
    Decimal("-0.001"),
    uuid4(),
    timedelta(days=3, seconds=5, microseconds=7),
    timedelta(days=-1),
    ["a", None, date(2024, 1, 1)],
    (1, 2, 3),
    {"x": 1, "nested": {"y": [Decimal("2.5")]}},
    {1: "integer keys (a DuckDB MAP)"},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_comes_back_equal_and_of_its_type(value: Any) -> None:
    back = decode_reply(encode_result([{"v": value}]))[0]["v"]
    assert back == value
    assert type(back) is type(value)
    assert str(back) == str(value)  # what a CSV cell shows


def test_every_duckdb_type_the_views_could_hold_round_trips() -> None:
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE t AS SELECT 170141183460469231731687303715884105727::HUGEINT AS h, "
        "INTERVAL 3 DAY AS i, gen_random_uuid() AS u, 1.50::DECIMAL(10, 2) AS d, "
        "now()::TIMESTAMP AS ts, now() AS tz, ['a', NULL] AS l, [1, 2, 3]::INTEGER[3] AS a, "
        "{'x': 1} AS s, MAP {'k': 1} AS m, '12:00'::TIME AS t, 'ab'::BLOB AS b, "
        "current_date AS dt, 1.5::DOUBLE AS f, 2::UTINYINT AS ut, 'x'::VARCHAR AS v"
    )
    rows = con.execute("SELECT * FROM t").fetchall()
    columns = [d[0] for d in con.description or ()]
    result = [dict(zip(columns, row, strict=True)) for row in rows]
    back = decode_reply(encode_result(result))
    assert back == result
    assert [type(v) for v in back[0].values()] == [type(v) for v in result[0].values()]


def test_a_value_it_cannot_carry_is_named() -> None:
    with pytest.raises(UnsupportedValueError, match="object"):
        encode_result([{"v": object()}])


def test_a_query_duckdb_refuses_is_named_and_the_reads_roll_back(tmp_path: Path) -> None:
    """On views without their tables, a read is ``query-failed``; nothing stays open."""
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(ViewsQueryError, match=r"^query-failed: CatalogException"):
        decode_reply(answer(con, b'{"read": "rooms"}'))
    with pytest.raises(duckdb.CatalogException):
        run_read(con, Rooms())
    con.execute("CREATE TABLE x (a INTEGER)")  # no transaction was left open
    con.close()


def test_a_read_never_sees_half_a_batch(api: Api, tmp_path: Path) -> None:
    """The projector stops in the middle of a batch (inside its transaction); reads answered
    by the query service meanwhile see the views before the batch, then after it, whole."""
    run_lifecycle(api)
    head = api.head()
    notifications = api.app.recorder.select_notifications(start=1, limit=head)
    middle = notifications[len(notifications) // 2].id
    reached, release = threading.Event(), threading.Event()

    def pause(seq: int) -> None:
        if seq == middle and not reached.is_set():
            reached.set()
            assert release.wait(30)

    con = duckdb.connect(str(tmp_path / "views.duckdb"))
    projector = Projector(con, api.app.recorder, api.app.name, after_change=pause)
    first = notifications[: len(notifications) // 4]
    projector.apply(first)
    url = api.services.nats_url or ""
    service = QueryService(con, url, STREAM)
    service.start()
    client = RemoteViews(url, STREAM, timeout=5)
    try:
        before = client.read(Rooms()), client.read(Topics())
        assert client.read(Position()) == first[-1].id
        applying = threading.Thread(target=projector.apply, args=(notifications,))
        applying.start()
        assert reached.wait(30)
        assert client.read(Position()) == first[-1].id  # mid-batch: the batch is not there
        assert (client.read(Rooms()), client.read(Topics())) == before
        release.set()
        applying.join(30)
        assert client.read(Position()) == head
        after = client.read(Rooms()), client.read(Topics())
        assert after != before
        with con.cursor() as cursor:
            assert after == (run_read(cursor, Rooms()), run_read(cursor, Topics()))
    finally:
        release.set()
        client.close()
        service.stop()
        con.close()
