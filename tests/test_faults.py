"""The fault suite (``python -m tests.faults``) as tests: a short subset in the default run,
every scenario under the ``slow`` marker. The same scenario code as the command; each must
lose, duplicate and tear nothing, verify OK, pass its own check and leave no secret in a log.
"""

from __future__ import annotations

import pytest

from tests.faults import concurrency, projection
from tests.faults.report import render
from tests.faults.scenario import Options, Result, Scenario, run_scenario
from tests.faults.scenarios import SCENARIOS


def _assert_clean(result: Result) -> None:
    shown = render([result], header=False)
    assert result.error is None, shown
    assert result.rows, shown
    for row in result.rows:
        assert (row.lost, row.duplicated, row.torn) == (0, 0, 0), shown
        assert row.verify in ("—", "OK"), shown
        assert not row.failed, shown
    assert result.secret_hits == 0, shown


@pytest.mark.parametrize("scenario", [concurrency.SCENARIO, projection.SCENARIO], ids=["7", "3"])
def test_short_subset(scenario: Scenario) -> None:
    """Few concurrent writers on one aggregate and on many; `hsl project` killed mid-way."""
    _assert_clean(run_scenario(scenario, Options(quick=True), scenario.timeout))


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.key for s in SCENARIOS])
def test_every_scenario(scenario: Scenario) -> None:
    result = run_scenario(scenario, Options(), scenario.timeout)
    if result.skipped is not None:
        pytest.skip(result.skipped)
    _assert_clean(result)
