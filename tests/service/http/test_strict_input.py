"""Bad input gets a 4xx naming the field, never a 500, and writes nothing (service.http.bodies).

Each case was once a 500 or stored wrong: JSON nested 1,000 deep (RecursionError), an offset
past DuckDB's BIGINT (2^63), ``occurred_at: 12345`` (stored as 1970), ``"2024"`` for a number, and
names holding control characters, bidi overrides or only spaces.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from projections import view_reads, views_wire
from projections.rebuild import rebuild
from projections.view_reads import MAX_OFFSET
from tests.support.http_api import COUNTY, TOWN, Api, problem


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, str]:
    town = api.ok(
        "clerk-1",
        "/rooms",
        {"name": "柳溪镇协商议事室", "level": "town", "region": {"county": COUNTY, "town": TOWN}},
    )["id"]
    topic = api.ok(
        "clerk-1", f"/rooms/{town}/topics", {"title": "停车难", "source": "public_call"}
    )["id"]
    rebuild(api.app.recorder, api.app.name, api.services.views.path)
    return {"town": town, "topic": topic}


def refused(
    api: Api, path: str, body: Any, field: str, *, raw: bytes | None = None
) -> dict[str, Any]:
    """POST ``body`` (or ``raw`` bytes) as the clerk: a 422 naming ``field``, nothing written."""
    before = api.head()
    if raw is None:
        response = api.client.post(path, json=body, headers=api.auth("clerk-1"))
    else:
        headers = {**api.auth("clerk-1"), "content-type": "application/json"}
        response = api.client.post(path, content=raw, headers=headers)
    found = problem(response, 422)
    assert found["type"] == "urn:hsl:problem:validation"
    assert found["field"] == field, found
    assert api.head() == before
    return found


def plan(api: Api, **fields: Any) -> dict[str, Any]:
    return {"occurred_at": api.clock.tick(), "year": 2024, "planned_consultations": 2, **fields}


def room(api: Api, **fields: Any) -> dict[str, Any]:
    region = {"county": COUNTY, "town": TOWN}
    return {"occurred_at": api.clock.tick(), "level": "town", "region": region, **fields}


class TestDeepNesting:
    @pytest.mark.parametrize("depth", [1_000, 100_000])
    def test_is_422_not_500(self, api: Api, world: dict[str, str], depth: int) -> None:
        path = f"/rooms/{world['town']}/plans"
        nested = b"[" * depth + b"]" * depth
        refused(api, path, None, "$", raw=nested)
        refused(api, path, None, "summary", raw=b'{"summary": ' + nested + b"}")
        deep_object = b'{"a":' * depth + b"1" + b"}" * depth
        refused(api, path, None, "summary", raw=b'{"summary": ' + deep_object + b"}")
        refused(api, path, None, "zzz", raw=b'{"zzz": ' + nested + b', "year": 2024}')

    def test_deep_in_a_list_of_people(self, api: Api, world: dict[str, str]) -> None:
        depth = 5_000
        deep = b'{"id":' * depth + b'"x"' + b"}" * depth
        body = b'{"members": [' + deep + b'], "lead_id": "convener-1"}'
        refused(api, f"/topics/{world['topic']}/consultation", None, "members[0].id", raw=body)


class TestTimes:
    @pytest.mark.parametrize(
        "value",
        [
            12345,  # once stored as 1970-01-01T03:25:45Z
            1709280000.5,
            "1709280000",
            "2024-03-01T08:00:00",  # naive
            "2024-03-01",
            "next tuesday",
            True,
            None,
        ],
    )
    def test_occurred_at_is_an_rfc3339_string_with_an_offset(
        self, api: Api, world: dict[str, str], value: object
    ) -> None:
        body = {**plan(api), "occurred_at": value}
        refused(api, f"/rooms/{world['town']}/plans", body, "occurred_at")

    def test_an_offset_other_than_utc_is_kept_as_the_same_moment(
        self, api: Api, world: dict[str, str]
    ) -> None:
        body = {**plan(api, year=2025), "occurred_at": "2024-03-01T09:00:00+08:00"}
        response = api.client.post(
            f"/rooms/{world['town']}/plans", json=body, headers=api.auth("clerk-1")
        )
        assert response.status_code == 200, response.text


class TestNumbers:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"year": "2024"}, "year"),
            ({"planned_consultations": "2"}, "planned_consultations"),
            ({"year": 2024.0}, "year"),
            ({"year": True}, "year"),
        ],
    )
    def test_numbers_are_json_numbers(
        self, api: Api, world: dict[str, str], fields: dict[str, Any], field: str
    ) -> None:
        refused(api, f"/rooms/{world['town']}/plans", plan(api, **fields), field)

    def test_strings_are_json_strings(self, api: Api, world: dict[str, str]) -> None:
        refused(api, "/rooms", room(api, name=12345), "name")


class TestText:
    @pytest.mark.parametrize(
        "name",
        [
            "柳溪\x00镇",
            "\x1b[31m议事室",
            "议事室\x7f",
            "议事室\x85",  # C1: NEXT LINE
            "议事室\x9b",
            "第一行\n第二行",  # a name is one line
            "议事室\t",
            "\u202e室事议",  # RIGHT-TO-LEFT OVERRIDE
            "议事\u202a室",
            "议事\u2066室\u2069",  # isolates
            "   ",
            "\u3000\u3000",  # ideographic spaces
            "\n",
        ],
    )
    def test_names_refuse_controls_bidi_and_blank(self, api: Api, name: str) -> None:
        found = refused(api, "/rooms", room(api, name=name), "name")
        assert "name" in found["detail"]

    def test_the_path_is_named(self, api: Api, world: dict[str, str]) -> None:
        region = {"county": COUNTY, "town": "柳溪\u202e镇"}
        refused(api, "/rooms", room(api, name="新室", region=region), "region.town")
        members = [
            {"id": "convener-1", "name": "李书记"},
            {"id": "member-1", "name": "王委员"},
            {"id": "r0", "name": "\u200b\u202e"},
        ]
        body = {"occurred_at": api.clock.tick(), "members": members, "lead_id": "convener-1"}
        refused(api, f"/topics/{world['topic']}/consultation", body, "members[2].name")

    def test_free_text_takes_line_breaks_and_tabs(self, api: Api, world: dict[str, str]) -> None:
        text = "第一段：停车难。\r\n第二段：\t夜间占道。\n"
        ok = api.ok(
            "clerk-1",
            f"/rooms/{world['town']}/topics",
            {"title": "夜间停车", "source": "public_call", "description": text},
        )
        assert ok["id"]

    @pytest.mark.parametrize("text", ["停车\x07难", "停车\u202e难", "  \n\t ", "\x00"])
    def test_free_text_refuses_the_rest(self, api: Api, world: dict[str, str], text: str) -> None:
        body = {
            "occurred_at": api.clock.tick(),
            "title": "停车",
            "source": "public_call",
            "description": text,
        }
        refused(api, f"/rooms/{world['town']}/topics", body, "description")

    def test_an_optional_text_may_be_empty(self, api: Api, world: dict[str, str]) -> None:
        ok = api.ok(
            "clerk-1",
            f"/rooms/{world['town']}/topics",
            {"title": "路灯", "source": "public_call", "description": ""},
        )
        assert ok["id"]


class TestQueryParameters:
    @pytest.mark.parametrize("path", ["/rooms", "/topics", "/outcomes"])
    def test_offset_past_bigint_is_422(self, api: Api, world: dict[str, str], path: str) -> None:
        for offset in (MAX_OFFSET + 1, 2**63, 2**64, 10**30):
            response = api.client.get(path, params={"offset": offset}, headers=api.auth("office-1"))
            assert problem(response, 422)["field"] == "offset"
        response = api.client.get(path, params={"offset": MAX_OFFSET}, headers=api.auth("office-1"))
        assert response.status_code == 200, response.text
        assert response.json() == []

    def test_offset_and_limit_are_integers(self, api: Api, world: dict[str, str]) -> None:
        for params in ({"offset": "-1"}, {"offset": "1.5"}, {"limit": "0"}, {"limit": "x"}):
            response = api.client.get("/rooms", params=params, headers=api.auth("office-1"))
            assert response.status_code == 422, (params, response.text)

    def test_audit_export_sequences_past_uint64(self, api: Api, world: dict[str, str]) -> None:
        """Past the log's end: nothing to export (422), or up to the end; never a 500."""
        for params in ({"from": 2**64}, {"to": 10**30}, {"from": 10**30, "to": 10**31}):
            response = api.client.get("/audit/export", params=params, headers=api.auth("auditor-1"))
            assert response.status_code < 500, (params, response.text)


def test_the_views_wire_bounds_the_offset_too() -> None:
    """`hsl project` answers the same named reads over NATS: the bound is the Struct's."""
    assert views_wire.decode_request(
        b'{"read": "rooms", "offset": 9007199254740992}'
    ) == view_reads.Rooms(offset=MAX_OFFSET)
    for offset in (MAX_OFFSET + 1, 2**63, 2**64):
        data = b'{"read": "topics", "offset": %d}' % offset
        with pytest.raises(msgspec.ValidationError, match=r"\$\.offset"):
            views_wire.decode_request(data)
