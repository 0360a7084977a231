"""Failed authentications are limited per client address: 429 with Retry-After, counted."""

from __future__ import annotations

import secrets

import pytest
from structlog.testing import capture_logs

from service.auth.users import digest
from service.http.auth_limit import (
    FAILED_AUTH_BURST,
    FAILED_AUTH_REFILL_SECONDS,
    TRACKED_CLIENTS,
    FailedAuthLimiter,
    Throttled,
)
from tests.support.http_api import Api
from tests.support.paths import REPO_ROOT


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestFailedAuthLimiter:
    def test_a_burst_then_one_attempt_per_refill(self) -> None:
        """``burst`` attempts at once; then Throttled saying how long, then one more per refill."""
        clock = FakeClock()
        limiter = FailedAuthLimiter(burst=3, refill_seconds=10.0, clock=clock)
        for _ in range(3):
            limiter.take("a")
        with pytest.raises(Throttled) as refused:
            limiter.take("a")
        assert refused.value.retry_after == 10
        clock.now += 4
        with pytest.raises(Throttled) as refused:
            limiter.take("a")
        assert refused.value.retry_after == 6
        clock.now += 6
        limiter.take("a")
        with pytest.raises(Throttled):
            limiter.take("a")

    def test_an_attempt_that_authenticates_is_given_back(self) -> None:
        """A client logging in correctly never runs out."""
        limiter = FailedAuthLimiter(burst=2, refill_seconds=10.0, clock=FakeClock())
        for _ in range(10):
            limiter.take("a")
            limiter.give_back("a")
        limiter.take("a")
        limiter.take("a")

    def test_addresses_are_counted_apart(self) -> None:
        """One address out of attempts does not hold up another."""
        limiter = FailedAuthLimiter(burst=1, refill_seconds=10.0, clock=FakeClock())
        limiter.take("a")
        with pytest.raises(Throttled):
            limiter.take("a")
        limiter.take("b")

    def test_at_most_max_clients_are_remembered(self) -> None:
        """Past ``max_clients`` the least recently seen address is forgotten (memory bound)."""
        limiter = FailedAuthLimiter(burst=1, refill_seconds=10.0, max_clients=2, clock=FakeClock())
        limiter.take("a")
        limiter.take("b")
        limiter.take("c")  # "a" forgotten: it starts again with a full bucket
        limiter.take("a")
        with pytest.raises(Throttled):
            limiter.take("c")

    def test_bad_limits_are_refused(self) -> None:
        """A limit that could never let anyone in is a clear error."""
        with pytest.raises(ValueError, match="burst"):
            FailedAuthLimiter(burst=0)


def test_many_bad_tokens_get_429_counted_and_logged_without_the_token(api: Api) -> None:
    """After the burst of bad tokens: 429 problem+json with Retry-After (Chinese and English),
    the failures and the throttle in /metrics, and log lines naming only a digest prefix."""
    guesses = [f"hsl_{secrets.token_urlsafe(32)}" for _ in range(FAILED_AUTH_BURST + 2)]
    before = _counters(api)
    with capture_logs() as logs:
        answers = [
            api.client.get("/rooms", headers={"Authorization": f"Bearer {g}"}) for g in guesses
        ]
    statuses = [a.status_code for a in answers]
    assert statuses == [401] * FAILED_AUTH_BURST + [429, 429]
    throttled = answers[-1]
    assert throttled.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(throttled.headers["retry-after"]) <= FAILED_AUTH_REFILL_SECONDS
    problem = throttled.json()
    assert problem["type"] == "urn:hsl:problem:throttled"
    assert problem["status"] == 429
    assert "秒后再试" in problem["detail"]
    assert "retry after" in problem["detail_en"]

    failures = [e for e in logs if e["event"] == "authentication failed"]
    assert [e["token_sha256_prefix"] for e in failures] == [
        digest(g)[:8] for g in guesses[:FAILED_AUTH_BURST]
    ]
    shown = repr(logs) + "".join(a.text for a in answers)
    assert not any(g in shown for g in guesses)

    after = _counters(api)
    failed = 'hsl_auth_failures_total{reason="invalid"}'
    assert after[failed] - before.get(failed, 0) == FAILED_AUTH_BURST
    assert after["hsl_auth_throttled_total"] - before["hsl_auth_throttled_total"] == 2


def _counters(api: Api) -> dict[str, float]:
    """The /metrics samples (the counters are process-wide: tests compare differences)."""
    text = api.client.get("/metrics").text
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def test_docs_state_the_limits_the_code_has() -> None:
    """docs/api.md gives the limits' names and their values as the code has them."""
    text = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert f"`FAILED_AUTH_BURST` ({FAILED_AUTH_BURST})" in text
    assert f"`FAILED_AUTH_REFILL_SECONDS` ({FAILED_AUTH_REFILL_SECONDS:g} s" in text
    assert f"`TRACKED_CLIENTS` ({TRACKED_CLIENTS:,})" in text


def test_the_401_help_survives_redaction(api: Api) -> None:
    """Problem texts are scrubbed of credentials, not of the help about the header."""
    problem = api.client.get("/rooms").json()
    assert "（Authorization: Bearer …）" in problem["detail"]
    assert problem["detail_en"].startswith("send 'Authorization: Bearer <token>'")
