"""Property: random command sequences never store an order the procedure forbids.

Hypothesis draws sequences of commands (valid and invalid, on any aggregate, some in
the future or long after the fact) against a world seeded at several stages of the
procedure. Every refused command must write nothing; at the end the independent
``ProcedureOracle`` replays the stored log and finds no forbidden order.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain.errors import DomainError
from tests.support.driver import ACTIONS, World
from tests.support.driver_paths import ADVANCE
from tests.support.procedure import ProcedureOracle
from tests.support.scenario import stored

steps = st.lists(
    st.tuples(
        st.sampled_from(sorted(ACTIONS) + ADVANCE * 5),
        st.sampled_from([0] * 3 + [1] * 2 + list(range(12))),
        st.sampled_from(range(30)),
    ),
    min_size=20,
    max_size=60,
)
"""(action, which aggregate: 0 = the newest, variant: role, value, time) triples;
happy-path steps and the newest aggregates are weighted up so that sequences reach
deep into the procedure."""


class TestRandomSequences:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps)
    def test_no_forbidden_order_is_ever_stored(self, sequence: list[tuple[str, int, int]]) -> None:
        """Refused commands write nothing; what is stored always follows the procedure."""
        world = World()
        for name, target, variant in sequence:
            before = world.app.recorder.max_notification_id()
            try:
                ACTIONS[name](world, target, variant)
            except DomainError:
                assert world.app.recorder.max_notification_id() == before
        ProcedureOracle().check(stored(world.app))
