"""A whole closed loop over HTTP, each step by the person whose role the policy allows.

Every event records the caller of its request as its actor (id and role), though no body
names an actor; the outcome's state and history are read back over HTTP.
"""

from __future__ import annotations

from tests.support.http_api import Api, run_lifecycle


def test_a_whole_lifecycle_over_http_records_each_caller_as_actor(api: Api) -> None:
    before = api.head()
    ids = run_lifecycle(api)
    assert api.head() - before == 40

    state = api.client.get(f"/outcomes/{ids['outcome']}", headers=api.auth("office-1"))
    assert state.status_code == 200, state.text
    assert state.json()["status"] == "closed"
    assert state.json()["implementation"] == "verified"
    assert state.json()["reconsultation_topic_ids"] == [ids["new_topic"]]

    history = api.client.get(f"/outcomes/{ids['outcome']}/history", headers=api.auth("auditor-1"))
    assert history.status_code == 200, history.text
    entries = history.json()["entries"]
    own = [e for e in entries if e["aggregate_id"] == ids["outcome"]]
    assert own[0]["event"] == "outcome.drafted"
    assert own[-1]["event"] == "outcome.closed"
    actors = {(e["event"], e["actor"]["id"], e["actor"]["role"]) for e in entries}
    assert ("outcome.adopted", "village-party", "party_org") in actors
    assert ("outcome.progress_reported", "unit-1", "implementing_unit") in actors
    assert ("topic.approved", "town-upper-party", "upper_party_org") in actors
    assert ("consultation.vote_cast", "r2", "resident_rep") in actors
    assert ("outcome.closed", "clerk-1", "clerk") in actors
