"""Happy-path steps for the property test's driver, weighted up so sequences go deep.

Each ``advance_*`` action performs the next step of the procedure for an aggregate;
one time in five it skips a step, and some outcomes rush to close early, so the rules
at every boundary are offered the wrong order too.
"""

from __future__ import annotations

from service.domain.rules import FILING_BODY
from tests.support.driver import (
    Action,
    World,
    action,
    assign,
    close,
    confirm,
    decide,
    draft,
    escalate,
    feedback,
    finding,
    form_group,
    hold,
    implement,
    pick,
    publicise,
    reconsult,
    report,
    schedule,
    stall,
)
from tests.support.scenario import CLERK, PARTY, UPPER_PARTY


def _step(w: World, t: int, v: int, plan: list[Action], index: int) -> None:
    """Run step ``index`` of a happy path; one time in five skip ahead a step instead,
    so the aggregates are also offered commands out of order."""
    if v % 5 == 0 and index + 1 < len(plan):
        index += 1
    plan[index](w, t, v)


def _file_mostly_correctly(w: World, t: int, v: int) -> None:
    """File with the body the level requires, but one time in seven with the other one."""
    if (topic_id := pick(w.topics, t)) is not None:
        body = FILING_BODY[w.app.get_topic(topic_id).room_level]
        if v % 7 == 3:
            body = "county_cppcc" if body == "town_members_group" else "town_members_group"
        w.app.file_topic(topic_id, actor=CLERK, occurred_at=w.when(v), filed_with=body)


def _approve_properly(w: World, t: int, v: int) -> None:
    if (topic_id := pick(w.topics, t)) is not None:
        escalated = w.app.get_topic(topic_id).status == "escalated"
        actor = UPPER_PARTY if escalated else PARTY
        w.app.approve_topic(topic_id, actor=actor, occurred_at=w.when(v), approving_org="党委")


@action
def advance_topic(w: World, t: int, v: int) -> None:
    """The next step of the happy path for a topic: decide, file, open the activity."""
    if (topic_id := pick(w.topics, t)) is None:
        return
    topic = w.app.get_topic(topic_id)
    if topic.status == "proposed" and topic.room_level != "town" and v % 2:
        escalate(w, t, v)
        return
    plan: list[Action] = [_approve_properly, _file_mostly_correctly, form_group, hold]
    if topic.status in ("proposed", "escalated"):
        _step(w, t, v, plan, 0)
    elif topic.status == "approved" and topic.filed_with is None:
        _step(w, t, v, plan, 1)
    else:
        form_group(w, t, v)


@action
def advance_consultation(w: World, t: int, v: int) -> None:
    """The next step of the happy path for an activity, up to drafting an outcome."""
    if (cid := pick(w.consultations, t)) is None:
        return
    c = w.app.get_consultation(cid)
    plan: list[Action] = [finding, confirm, schedule, hold, draft]
    if c.stage == "held":
        index = 4
    elif c.findings == 0:
        index = 0
    else:
        index = {"research": 1, "participants_confirmed": 2, "scheduled": 3}[c.stage]
    _step(w, t, v, plan, index)


def _explain_next(w: World, t: int, v: int) -> None:
    if (oid := pick(w.outcomes, t)) is None:
        return
    o = w.app.get_outcome(oid)
    dissents = w.app.get_consultation(o.consultation_id).dissents.keys()
    unexplained = sorted(dissents - o.explained_dissent_ids, key=str)
    if unexplained:
        w.app.explain_dissent(
            oid, actor=CLERK, occurred_at=w.when(v), dissent_id=unexplained[0], explanation="解释"
        )


def _verify_effective(w: World, t: int, v: int) -> None:
    implement(w, t, 2)


def _towards_closing(w: World, t: int, v: int) -> None:
    """Feedback, then explanations, then close: whatever the implementation's state."""
    if (oid := pick(w.outcomes, t)) is None:
        return
    o = w.app.get_outcome(oid)
    dissents = w.app.get_consultation(o.consultation_id).dissents.keys()
    if o.feedback_count == 0:
        feedback(w, t, v)
    elif dissents - o.explained_dissent_ids:
        _explain_next(w, t, v)
    else:
        close(w, t, v)


@action
def advance_outcome(w: World, t: int, v: int) -> None:
    """The next step of the happy path for an outcome, up to closing it.

    Each outcome has a temperament fixed by its id: most follow the procedure, some
    rush to close right after adoption, publicity, assignment or completion, so the
    closing rules meet every state of the implementation.
    """
    if (oid := pick(w.outcomes, t)) is None:
        return
    o = w.app.get_outcome(oid)
    rush = oid.int % 5
    impl = o.implementation
    decided = o.status in ("adopted", "not_adopted")
    if o.status in ("drafted", "reported"):
        _step(w, t, v, [report, decide, publicise], 0 if o.status == "drafted" else 1)
    elif o.implementation == "stalled" and not o.reconsultation_topic_ids and v % 2:
        reconsult(w, t, v)
    elif (
        not decided
        or not o.needs_implementation
        or impl in ("verified", "stalled")
        or rush == 0
        or (rush == 1 and impl == "none" and o.publicised)
        or (rush == 2 and impl in ("assigned", "in_progress"))
        or (rush == 3 and impl == "completed")
    ):
        _towards_closing(w, t, v)
    elif not o.publicised:
        _step(w, t, v, [publicise, assign], 0)
    elif impl == "none":
        assign(w, t, v)
    elif impl in ("assigned", "in_progress"):
        (stall if v % 4 == 3 else implement)(w, t, 1 if v % 2 else 0)
    else:
        _verify_effective(w, t, v)


ADVANCE = ["advance_topic", "advance_consultation", "advance_outcome"]
"""The happy-path actions, registered in ``driver.ACTIONS`` on import."""
