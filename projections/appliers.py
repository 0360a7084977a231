"""Pure functions from one decoded event to the row changes it makes in the views.

An applier does no I/O: it returns ``Change`` values (``projections.changes``), so the runner
can fold a whole batch in memory and write each table once inside one transaction, and a test
can check an event's effect without a database. ``APPLIERS`` maps every event tag to its
applier; a tag missing here is an event the projection does not know, and the runner stops
on it rather than skipping it.
"""

from __future__ import annotations

from typing import Any, Final

from events import consultation as c
from events import outcome as o
from events import room as r
from events import topic as t
from events.codec import tag_of
from events.common import BaseEvent
from projections.changes import Change, Insert, Replace, Rows, Update
from projections.people import ACTOR, PEOPLE, named_people
from projections.updater import Applier, Updater, Value, occurred_at, utc, uuid_text
from projections.write_check import check_appliers


def _update(
    table: str, sets: dict[str, Value | str | bool | int], add: dict[str, int] | None = None
) -> Updater:
    """An applier setting columns of the originator's row: callables read the event."""
    return Updater(table, sets, add)


def _outcome(
    sets: dict[str, Value | str | bool | int], add: dict[str, int] | None = None
) -> Updater:
    """An outcome update that also records when its latest event happened."""
    return _update("outcomes", {**sets, "last_event_at": occurred_at}, add)


# --- rooms (§四.1, §五.3–§五.5) -----------------------------------------------------------


def _room_established(oid: str, e: r.RoomEstablished) -> list[Change]:
    parent = None if e.parent_room_id is None else uuid_text(e.parent_room_id)
    row = {
        "room_id": oid,
        "name": e.name,
        "level": e.level,
        "county": e.region.county,
        "town": e.region.town,
        "locality": e.region.locality,
        "parent_room_id": parent,
        "established_at": occurred_at(e),
        "backdated_entry": e.backdated,
    }
    return [Insert("rooms", row)]


def _member_linked(oid: str, e: r.MemberLinked) -> list[Change]:
    row = {
        "room_id": oid,
        "member_id": e.member.id,
        "member_name": e.member.name,
        "member_level": e.member_level,
        "members_group": e.members_group,
        "linked_at": occurred_at(e),
    }
    county = 1 if e.member_level == "county" else 0
    return [
        Insert("room_members", row),
        Update("rooms", oid, {}, {"county_member_count": county}, e.backdated),
    ]


def _plan_filed(oid: str, e: r.AnnualPlanFiled) -> list[Change]:
    row = {
        "room_id": oid,
        "year": e.year,
        "planned_consultations": e.planned_consultations,
        "filed_at": occurred_at(e),
    }
    return [Insert("room_plans", row)]


# --- topics (§二.1, §四.3) -----------------------------------------------------------------


def _topic_proposed(oid: str, e: t.TopicProposed) -> list[Change]:
    row = {
        "topic_id": oid,
        "room_id": uuid_text(e.room_id),
        "room_level": e.room_level,
        "title": e.title,
        "source": e.source,
        "reconsultation_of": None
        if e.reconsultation_of is None
        else uuid_text(e.reconsultation_of),
        "status": "proposed",
        "proposed_at": occurred_at(e),
        "backdated_entry": e.backdated,
    }
    return [Insert("topics", row)]


# --- consultations (§四.2, §四.4, §四.5) -------------------------------------------------


def _research_group_formed(oid: str, e: c.ResearchGroupFormed) -> list[Change]:
    row = {
        "consultation_id": oid,
        "topic_id": uuid_text(e.topic_id),
        "room_id": uuid_text(e.room_id),
        "room_level": e.room_level,
        "status": "researching",
        "research_lead_id": e.lead_id,
        "research_group_size": len(e.members),
        "research_started_at": occurred_at(e),
        "backdated_entry": e.backdated,
    }
    return [Insert("consultations", row)]


def _participants_confirmed(oid: str, e: c.ParticipantsConfirmed) -> list[Change]:
    at = occurred_at(e)
    rows = [
        {"consultation_id": oid, "person_id": p.id, "name": p.name, "role": p.role,
         "confirmed_at": at}
        for p in e.participants
    ]  # fmt: skip
    changes: list[Change] = [
        Replace("participants", "consultation_id", oid),
        Rows("participants", rows),
    ]
    sets = {
        "participant_count": e.participant_count,
        "resident_count": e.resident_count,
        "quota_met": e.quota_met,
        "quota_justification": e.quota_justification,
        "participants_confirmed_at": at,
        "status": "participants_confirmed",
    }
    changes.append(Update("consultations", oid, sets, {}, e.backdated))
    return changes


def _motion_put(oid: str, e: c.MotionPut) -> list[Change]:
    row = {
        "consultation_id": oid,
        "motion_id": uuid_text(e.motion_id),
        "text": e.text,
        "put_at": occurred_at(e),
    }
    return [Insert("motions", row)]


def _motion_key(e: Any) -> str:
    return uuid_text(e.motion_id)


# A motion's row: ``motions`` has no ``backdated_entry``, so the event's flag changes nothing.
_vote_cast = Updater("motions", {}, {"votes_cast": 1}, key=_motion_key)
_motion_resolved = Updater(
    "motions",
    {
        "votes_for": lambda e: e.tally.votes_for,
        "votes_against": lambda e: e.tally.votes_against,
        "abstentions": lambda e: e.tally.abstentions,
        "present": lambda e: e.tally.present,
        "result": lambda e: e.result,
        "resolved_at": occurred_at,
    },
    key=_motion_key,
)


def _held(oid: str, e: c.ConsultationHeld) -> list[Change]:
    # Held once (the domain requires the scheduled stage): no earlier attendee list to replace.
    # Each attendee's role is read from the participant list when the row is written
    # (``projections.changes.DERIVED``).
    at = occurred_at(e)
    sets = {
        "status": "held",
        "form": e.form,
        "venue": e.venue,
        "venue_detail": e.venue_detail,
        "held_at": at,
        "attendee_count": len(e.attendee_ids),
    }
    rows = [{"consultation_id": oid, "person_id": p, "held_at": at} for p in e.attendee_ids]
    return [Update("consultations", oid, sets, {}, e.backdated), Rows("attendees", rows)]


def _opinion_recorded(oid: str, e: c.OpinionRecorded) -> list[Change]:
    row = {
        "consultation_id": oid,
        "speaker_id": e.speaker_id,
        "speaker_role": e.speaker_role,
        "stance": e.stance,
        "recorded_at": occurred_at(e),
    }
    return [
        Insert("opinions", row),
        Update("consultations", oid, {}, {"opinion_count": 1}, e.backdated),
    ]


def _dissent_recorded(oid: str, e: c.DissentRecorded) -> list[Change]:
    row = {
        "consultation_id": oid,
        "dissent_id": uuid_text(e.dissent_id),
        "person_count": len(e.person_ids),
        "position": e.position,
        "recorded_at": occurred_at(e),
    }
    return [
        Insert("dissents", row),
        Update("consultations", oid, {}, {"dissent_count": 1}, e.backdated),
    ]


# --- outcomes (§四.2, §四.6) ---------------------------------------------------------------


def _outcome_drafted(oid: str, e: o.OutcomeDrafted) -> list[Change]:
    row = {
        "outcome_id": oid,
        "consultation_id": uuid_text(e.consultation_id),
        "topic_id": uuid_text(e.topic_id),
        "room_id": uuid_text(e.room_id),
        "kind": e.kind,
        "title": e.title,
        "stage": "drafted",
        "drafted_at": occurred_at(e),
        "backdated_entry": e.backdated,
        "last_event_at": occurred_at(e),
    }
    return [Insert("outcomes", row)]


_outcome_touched = _outcome({})
"""An outcome's latest event time, for events that change nothing else of its row."""


def _dissent_explained(oid: str, e: o.DissentExplained) -> list[Change]:
    row = {"outcome_id": oid, "dissent_id": uuid_text(e.dissent_id), "explained_at": occurred_at(e)}
    return [Insert("dissent_explanations", row), *_outcome_touched(oid, e)]


# Not effective reopens the work (§四.6 监督落实成效): back to implementing.
_verified = _outcome({
    "verified_at": occurred_at,
    "verified_effective": lambda e: e.effective,
    "stage": lambda e: "verified" if e.effective else "implementing",
})  # fmt: skip


_APPLIERS: Final[dict[str, Applier]] = {
    tag_of(r.RoomEstablished): _room_established,
    tag_of(r.ConvenerAssigned): _update("rooms", {
        "convener_id": lambda e: e.convener.id,
        "convener_name": lambda e: e.convener.name,
        "convener_position": lambda e: e.position,
    }),
    tag_of(r.LiaisonAssigned): _update("rooms", {
        "liaison_id": lambda e: e.liaison.id,
        "liaison_name": lambda e: e.liaison.name,
    }),
    tag_of(r.MemberLinked): _member_linked,
    tag_of(r.AnnualPlanFiled): _plan_filed,
    tag_of(t.TopicProposed): _topic_proposed,
    tag_of(t.TopicApprovalEscalated): _update("topics", {
        "status": "awaiting_upper_approval",
        "escalated_to": lambda e: e.upper_org,
        "escalated_at": occurred_at,
    }),
    tag_of(t.TopicApproved): _update("topics", {
        "status": "approved",
        "approving_org": lambda e: e.approving_org,
        "approved_by_upper_level": lambda e: e.by_upper_level,
        "approved_at": occurred_at,
    }),
    tag_of(t.TopicRejected): _update("topics", {
        "status": "rejected",
        "rejecting_org": lambda e: e.rejecting_org,
        "rejection_reason": lambda e: e.reason,
        "rejected_at": occurred_at,
    }),
    tag_of(t.TopicFiled): _update("topics", {
        "status": "filed",
        "filed_with": lambda e: e.filed_with,
        "filing_ref": lambda e: e.filing_ref,
        "filed_at": occurred_at,
    }),
    tag_of(t.TopicWithdrawn): _update("topics", {
        "status": "withdrawn",
        "withdrawal_reason": lambda e: e.reason,
        "withdrawn_at": occurred_at,
    }),
    tag_of(c.ResearchGroupFormed): _research_group_formed,
    tag_of(c.ResearchFindingRecorded): _update("consultations", {}, {"research_findings": 1}),
    tag_of(c.ParticipantsConfirmed): _participants_confirmed,
    tag_of(c.ConsultationScheduled): _update("consultations", {
        "status": "scheduled",
        "form": lambda e: e.form,
        "venue": lambda e: e.venue,
        "venue_detail": lambda e: e.venue_detail,
        "scheduled_for": lambda e: utc(e.scheduled_for),
        "host_id": lambda e: e.host_id,
    }),
    tag_of(c.ConsultationHeld): _held,
    tag_of(c.OpinionRecorded): _opinion_recorded,
    tag_of(c.MotionPut): _motion_put,
    tag_of(c.VoteCast): _vote_cast,
    tag_of(c.MotionResolved): _motion_resolved,
    tag_of(c.ConsensusReached): _update("consultations", {
        "consensus_summary": lambda e: e.summary,
        "consensus_at": occurred_at,
    }),
    tag_of(c.DissentRecorded): _dissent_recorded,
    tag_of(o.OutcomeDrafted): _outcome_drafted,
    tag_of(o.OutcomeReported): _outcome({"stage": "reported", "reported_at": occurred_at}),
    tag_of(o.OutcomeAdopted): _outcome({
        "stage": "adopted",
        "adopted_at": occurred_at,
        "adopted_as": lambda e: e.adopted_as,
        "decided_by": lambda e: e.decided_by,
        "needs_implementation": lambda e: e.needs_implementation,
    }),
    tag_of(o.OutcomeNotAdopted): _outcome({
        "stage": "not_adopted",
        "not_adopted_at": occurred_at,
        "decided_by": lambda e: e.decided_by,
        "not_adopted_reason": lambda e: e.reason,
    }),
    tag_of(o.PublicityNoticePublished): _outcome({
        "stage": "publicised",
        "publicised_at": occurred_at,
        "publicity_starts_on": lambda e: e.starts_on,
        "publicity_ends_on": lambda e: e.ends_on,
    }),
    tag_of(o.ObjectionReceived): _outcome({}, {"objection_count": 1}),
    tag_of(o.ImplementationAssigned): _outcome({
        "stage": "implementing",
        "implementation_assigned_at": occurred_at,
        "implementing_unit_id": lambda e: e.unit.id,
        "implementing_unit_name": lambda e: e.unit.name,
        "deadline": lambda e: e.deadline,
    }),
    tag_of(o.ProgressReported): _outcome({
        "progress_percent": lambda e: e.percent,
        "progress_at": occurred_at,
    }),
    tag_of(o.ImplementationCompleted): _outcome({
        "stage": "implemented",
        "implemented_at": occurred_at,
        "progress_percent": 100,
        "stalled": False,
    }),
    tag_of(o.ImplementationVerified): _verified,
    tag_of(o.ImplementationStalled): _outcome(
        {"stalled": True, "stalled_at": occurred_at, "stall_cause": lambda e: e.cause},
        {"stall_count": 1},
    ),
    tag_of(o.ReconsultationOpened): _outcome({
        "reconsultation_topic_id": lambda e: uuid_text(e.new_topic_id),
        "reconsulted_at": occurred_at,
    }),
    tag_of(o.FeedbackDelivered): _outcome({"stage": "fed_back", "fed_back_at": occurred_at}),
    tag_of(o.DissentExplained): _dissent_explained,
    tag_of(o.EscalatedViaCppcc): _outcome({
        "escalated_to": lambda e: e.to_level,
        "escalation_category": lambda e: e.category,
        "escalated_at": occurred_at,
    }),
    tag_of(o.OutcomeClosed): _outcome({"stage": "closed", "closed_at": occurred_at}),
}  # fmt: skip


def member_act(tag: str, oid: str, event: Any) -> dict[str, Any] | None:
    """The ``member_acts`` row of an event whose actor acted as a CPPCC member, else None."""
    actor = event.actor
    if actor.role != "cppcc_member":
        return None
    return {
        "member_id": actor.id,
        "event_type": tag,
        "aggregate_id": oid,
        "occurred_at": occurred_at(event),
    }


def _indexed(tag: str, applier: Applier) -> Applier:
    """``applier``, plus the rows that index people: ``person_acts`` and ``member_acts``.

    - ``person_acts``: a row for the actor and each person the event names (``voter_id``,
      ``participants`` …), the index behind ``hsl replay person``;
    - ``member_acts``: when the actor acted as a CPPCC member (a topic recommended, a vote, an
      escalation …), for the annual evaluation of members' participation (§五.3).

    The live path's form, one ``Insert`` per row; the rebuild writes the same rows as columns
    (``Fold.index_people``), from the same ``PEOPLE``, ``named_people`` and ``member_act``.
    """
    named = PEOPLE[tag]

    def apply(oid: str, event: Any) -> list[Change]:
        changes = applier(oid, event)
        actor = event.actor
        changes.append(
            Insert(
                "person_acts",
                {"person_id": actor.id, "relation": ACTOR, "event_type": tag, "aggregate_id": oid},
            )
        )
        for relation, ids in named_people(named, event):
            for person in ids:
                row = {
                    "person_id": person,
                    "relation": relation,
                    "event_type": tag,
                    "aggregate_id": oid,
                }
                changes.append(Insert("person_acts", row))
        act = member_act(tag, oid, event)
        if act is not None:
            changes.append(Insert("member_acts", act))
        return changes

    return apply


TABLE_APPLIERS: Final[dict[str, Applier]] = _APPLIERS
"""Every event tag's changes to the views' tables, without the people index (the rebuild
writes ``person_acts`` and ``member_acts`` as columns instead)."""

UPDATERS: Final[dict[str, Updater]] = {
    tag: f for tag, f in _APPLIERS.items() if isinstance(f, Updater)
}
"""The tags whose table change is one row's columns set (the rebuild applies these directly)."""

APPLIERS: Final[dict[str, Applier]] = {tag: _indexed(tag, f) for tag, f in _APPLIERS.items()}
"""Every event tag the projection knows, and how it changes the views."""


def changes_for(originator_id: str, event: BaseEvent) -> list[Change]:
    """The row changes of one event; ``KeyError`` if its tag has no applier."""
    return APPLIERS[tag_of(event)](originator_id, event)


check_appliers(APPLIERS)
"""Every applier's writes against the tables' declaration: a misspelt column fails here."""
