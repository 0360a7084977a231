"""``GET /audit/export``: one outcome's bundle as a .tar.gz that verifies offline."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from replay.bundle_verifier import verify_bundle
from replay.signed_note import VerifierKey
from tests.support.http_api import Api, run_lifecycle


def test_an_outcome_bundle_downloads_and_verifies(api: Api, tmp_path: Path) -> None:
    ids = run_lifecycle(api)
    response = api.client.get(
        "/audit/export", params={"outcome": ids["outcome"]}, headers=api.auth("auditor-1")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/gzip")
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    (bundle,) = tmp_path.iterdir()
    report = verify_bundle(bundle, VerifierKey.parse(response.headers["x-hsl-verifier-key"]))
    assert report.scope == "outcome"
    assert report.events == int(response.headers["x-hsl-events"]) > 0


def test_only_auditors_and_the_office_export(api: Api) -> None:
    response = api.client.get("/audit/export", params={"from": 1}, headers=api.auth("clerk-1"))
    assert response.status_code == 403, response.text


def test_an_inverted_range_is_422(api: Api) -> None:
    response = api.client.get(
        "/audit/export", params={"from": 5, "to": 2}, headers=api.auth("office-1")
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "to"
