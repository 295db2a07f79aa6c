"""Invariant 3 as a property that reaches vote counting: two distinct eligible people, always.

``test_execution_property`` hands ``execute()`` requests whose approvals were never voted, so
``record_vote`` (authorisation, requester != approver, one vote per person, the N-of-M count) is
never on its path. Here every example files a request the way triage does (policy judges the
proposal, the incident carries its service-name flags) and then clicks through
``record_vote`` on a real SQLite store, executing when the votes approve it, as the pipeline
does. The test counts the examples whose votes reached the counting branch and fails if too
few did, so a generator that drifts into only refusals cannot pass silently.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot import actions
from bot.actions import VoteStatus
from bot.models import ActionState, Category, Incident, Proposal, Severity, Triage, Vote
from bot.policy import EvaluationContext, Policy
from bot.policy.documents import Tier
from bot.service_names import FLAG_INVISIBLE, FLAG_MIXED_SCRIPT, FLAG_NON_ASCII
from bot.store.sqlite import SQLiteStore

from .conftest import NOW, TTL, RecordingExecutor, executors_for

# Members of the approver groups, as the chat tool's directory would answer.
MEMBERS = {
    "S0PAYMENTS": frozenset({"U0PAYDEV01", "U0PAYDEV02"}),
    "S0IDENTITY": frozenset({"U0IDSRE001", "U0IDSRE002"}),
    "S0CHECKOUT": frozenset({"U0CHKDEV01", "U0CHKDEV02"}),
    "S0DISCOVER": frozenset({"U0DISCDEV1", "U0DISCDEV2"}),
    "S0MESSAGING": frozenset({"U0MSGDEV01", "U0MSGDEV02"}),
    "S0WEBTEAM": frozenset({"U0WEBDEV01"}),
    "S0INCIDENTCMD": frozenset({"U0ICLEAD01", "U0ICLEAD02"}),
}
OUTSIDERS = ["U0RANDOM01", "U0RANDOM02", "S0PAYMENTS", "U0PAYLEAD1\u200b", "u0paylead1", ""]
BOT = "incident-bot"
# The smallest number of examples (of MAX_EXAMPLES) whose votes must reach the count.
MAX_EXAMPLES = 250
MIN_COUNTED = 100
MIN_APPROVED = 30
CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440"}


@dataclass(frozen=True)
class Target:
    """What the request names and what the incident carries; ``canonical`` keys the oracle."""

    proposal_service: str
    incident_flags: tuple[str, ...]
    canonical: str
    kind: str


def _critical(policy: Policy) -> list[str]:
    return sorted(n for n, spec in policy.services.items() if spec.tier is Tier.CRITICAL)


@st.composite
def targets(draw: st.DrawFn, policy: Policy) -> Target:
    """A critical service, or a look-alike spelling of any known service."""
    known = sorted(policy.services)
    name = draw(st.sampled_from(known))
    kind = draw(
        st.sampled_from(["critical", "zero_width", "full_width", "cyrillic", "flagged_incident"])
    )
    if kind == "critical":
        name = draw(st.sampled_from(_critical(policy)))
        return Target(name, (), name, kind)
    if kind == "zero_width":
        cut = draw(st.integers(1, len(name) - 1))
        char = draw(st.sampled_from(["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad"]))
        return Target(name[:cut] + char + name[cut:], (), name, kind)
    if kind == "full_width":
        letters = [i for i, c in enumerate(name) if c.isascii() and c.isalpha()]
        at = draw(st.sampled_from(letters))
        wide = chr(ord(name[at]) + 0xFEE0)
        return Target(name[:at] + wide + name[at + 1 :], (), name, kind)
    if kind == "cyrillic":
        swappable = [i for i, c in enumerate(name) if c in CYRILLIC]
        if swappable:
            at = draw(st.sampled_from(swappable))
            return Target(name[:at] + CYRILLIC[name[at]] + name[at + 1 :], (), name, kind)
    # The alert carried the look-alike; triage proposes on the canonical name (issue 13.7).
    flags = draw(
        st.lists(
            st.sampled_from([FLAG_INVISIBLE, FLAG_MIXED_SCRIPT, FLAG_NON_ASCII]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return Target(name, tuple(sorted(flags)), name, "flagged_incident")


def _listed(policy: Policy, service: str) -> list[str]:
    """The approvers services.yaml names for ``service`` (read as data, not through the engine)."""
    return list(policy.services[service].approvers)


def _people(policy: Policy, service: str) -> list[str]:
    """The users who may approve on ``service``: named ones and members of named groups."""
    listed = _listed(policy, service)
    users = {a for a in listed if not a.startswith("S")}
    users |= {u for a in listed for u in MEMBERS.get(a, frozenset())}
    return sorted(users)


@st.composite
def scenarios(draw: st.DrawFn, policy: Policy) -> dict[str, Any]:
    target = draw(targets(policy))
    spec = policy.services[target.canonical]
    action, params = draw(
        st.sampled_from(
            [
                ("restart_deployment", {"deployment": sorted(spec.deployments)[0]}),
                ("collect_diagnostics", {"deployment": sorted(spec.deployments)[-1]}),
                ("notify_oncall", {"message": "checkout errors"}),
            ]
        )
    )
    people = _people(policy, target.canonical)
    requester = draw(st.sampled_from([BOT, BOT, *people]))
    # Mostly people who may approve, so that votes reach the count; the rest must be refused.
    others = [requester, *OUTSIDERS, *sorted(MEMBERS["S0INCIDENTCMD"])]
    voters = st.sampled_from(people) | st.sampled_from(others)
    votes = draw(
        st.lists(
            st.tuples(voters, st.sampled_from([Vote.APPROVE] * 7 + [Vote.DENY])),
            min_size=1,
            max_size=5,
        )
    )
    return {
        "target": target,
        "proposal": Proposal(action=action, service=target.proposal_service, params=params),
        "requester": requester,
        "votes": votes,
    }


def _eligible(user: str, approvers: list[str]) -> bool:
    """Independent of the engine: a listed user, or a member of a listed group."""
    if user.startswith("S") or not user:
        return False
    return user in approvers or any(user in MEMBERS.get(a, frozenset()) for a in approvers)


@dataclass
class Walk:
    """What one example's clicks did."""

    opened: ActionState
    state: ActionState
    statuses: list[VoteStatus]
    approvers: list[str]
    runs: int
    required: int


async def _walk(policy: Policy, scenario: dict[str, Any]) -> Walk:
    store = SQLiteStore(":memory:")
    recorder = RecordingExecutor()
    target: Target = scenario["target"]
    try:
        incident = Incident(
            title="t",
            service=target.canonical,
            service_flags=list(target.incident_flags),
            severity=Severity.SEV2,
            category=Category.LATENCY,
            created_at=NOW,
            updated_at=NOW,
        )
        await store.create_incident(incident)
        triage = Triage(
            incident_id=incident.id,
            category=Category.LATENCY,
            confidence=0.9,
            created_at=NOW,
            proposals=[scenario["proposal"]],
        )
        await store.add_triage(triage)
        context = EvaluationContext(
            category=Category.LATENCY,
            severity=Severity.SEV2,
            confidence=0.9,
            now=NOW,
            requester=scenario["requester"],
            service_flags=tuple(incident.service_flags),
        )
        request = await actions.open_request(
            store,
            incident_id=incident.id,
            triage_id=triage.id,
            proposal=scenario["proposal"],
            decision=policy.evaluate(scenario["proposal"], context),
            policy=policy,
            requested_by=scenario["requester"],
            now=NOW,
            ttl_seconds=TTL,
        )
        statuses: list[VoteStatus] = []
        for step, (user, vote) in enumerate(scenario["votes"]):
            now = NOW + timedelta(seconds=step + 1)
            result = await actions.record_vote(
                request.id, user, vote, store=store, policy=policy, now=now, group_members=MEMBERS
            )
            statuses.append(result.status)
            if result.request is not None and result.request.state is ActionState.APPROVED:
                await actions.execute(
                    request.id,
                    store=store,
                    policy=policy,
                    executors=executors_for(recorder),
                    now=now,
                    group_members=MEMBERS,
                )
        final = await store.get_action_request(request.id)
        return Walk(
            opened=request.state,
            state=final.state,
            statuses=statuses,
            approvers=final.approvers,
            runs=len(recorder.calls),
            required=request.decision.approvals_required,
        )
    finally:
        await store.close()


COUNTED = {VoteStatus.RECORDED, VoteStatus.APPROVED}
RAN_OR_MAY_RUN = {
    ActionState.APPROVED,
    ActionState.EXECUTING,
    ActionState.SUCCEEDED,
    ActionState.FAILED,
    ActionState.OUTCOME_UNKNOWN,
}


def test_invariant_3_critical_or_lookalike_service_needs_two_distinct_eligible_people(
    policy: Policy,
) -> None:
    reached: Counter[str] = Counter()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        scenario = data.draw(scenarios(policy))
        target: Target = scenario["target"]
        walk = asyncio.run(_walk(policy, scenario))
        # A Cyrillic spelling is no known service: only the fallback approvers could count.
        cyrillic = target.kind == "cyrillic"
        approvers = _listed(policy, target.canonical) if not cyrillic else []
        approvers += list(policy.rules.fallback_approvers) if cyrillic else []
        good = {
            user
            for user in walk.approvers
            if user != scenario["requester"] and _eligible(user, approvers)
        }
        if walk.state in RAN_OR_MAY_RUN or walk.runs:
            assert len(good) >= 2, (target, walk)
            assert len(set(walk.approvers)) == len(walk.approvers), walk
        assert walk.runs <= 1
        # Never allowed without people; whatever the spelling, a waiting request needs two.
        assert walk.opened in (ActionState.PENDING_APPROVAL, ActionState.BLOCKED), walk
        if walk.opened is ActionState.PENDING_APPROVAL:
            assert walk.required == 2, (target, walk)
        if COUNTED & set(walk.statuses):
            reached["counted"] += 1
            event(f"counted: {target.kind}")
        if walk.runs:
            reached["approved"] += 1
        reached[f"kind:{target.kind}"] += 1

    check()
    # The property is only as good as its reach: enough examples must have had an eligible
    # vote counted, and some must have gone all the way to execution with two people.
    assert reached["counted"] >= MIN_COUNTED, dict(reached)
    assert reached["approved"] >= MIN_APPROVED, dict(reached)
