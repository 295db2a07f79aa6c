"""The tamper-evident timeline: a hash chain per incident, and the checks of evidence bundles.

Every event carries ``prev_hash``, the link of the previous event of its incident, and
``hash = sha256(prev_hash + canonical(event without prev_hash and hash))`` in hex, where
canonical JSON has sorted keys, no whitespace and is UTF-8. An incident's first event has the
empty ``prev_hash``. Events stored before the chain existed carry neither field: they are
"unchained (legacy)", and the first chained event after them links to the last one's digest,
so editing that one afterwards still breaks a link.

Pure: values in, values out. The stores call ``chained`` inside their append, where the
previous event is read and the new one written as one step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.models import ActionRequest, Event, EventKind

GENESIS = ""
BUNDLE_FORMAT = "incident-bot.evidence/1"
_HASH_FIELDS = frozenset({"prev_hash", "hash"})


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(prev_hash: str, event: Event) -> str:
    """The hash an event with this ``prev_hash`` must carry."""
    body = event.model_dump(mode="json", exclude=set(_HASH_FIELDS))
    return hashlib.sha256(prev_hash.encode("utf-8") + canonical(body)).hexdigest()


def link_of(event: Event) -> str:
    """What the next event's ``prev_hash`` must be: the event's hash, or a legacy event's
    digest as if it started the chain."""
    return event.hash or digest(GENESIS, event)


def chained(event: Event, previous: Event | None) -> Event:
    """``event`` (with its final ``seq``) linked after ``previous``, the incident's last one."""
    prev = GENESIS if previous is None else link_of(previous)
    linked = event.model_copy(update={"prev_hash": prev, "hash": ""})
    return linked.model_copy(update={"hash": digest(prev, linked)})


@dataclass(frozen=True)
class Break:
    """The first link that does not hold: where, which field, what was expected and found."""

    incident_id: str
    seq: int
    event_id: str
    what: str
    expected: str
    found: str

    def describe(self) -> str:
        """One line naming the link."""
        return (
            f"incident {self.incident_id} seq {self.seq} ({self.event_id}): {self.what}: "
            f"expected {self.expected or '(empty)'}, found {self.found or '(empty)'}"
        )


@dataclass(frozen=True)
class ChainReport:
    """One incident's chain as verified."""

    incident_id: str
    events: int
    legacy: int
    head: str
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        """True when every chained link holds (legacy events do not make a chain broken)."""
        return self.broken is None


def verify_chain(incident_id: str, events: Sequence[Event]) -> ChainReport:
    """Recompute an incident's chain (events in append order) and name its first broken link."""
    previous: Event | None = None
    legacy = 0
    started = False
    for event in events:
        problem = _check_link(incident_id, event, previous, started)
        if problem is not None:
            return ChainReport(incident_id, len(events), legacy, "", problem)
        if event.hash:
            started = True
        else:
            legacy += 1
        previous = event
    head = link_of(previous) if previous is not None and previous.hash else ""
    return ChainReport(incident_id, len(events), legacy, head)


def _check_link(
    incident_id: str, event: Event, previous: Event | None, started: bool
) -> Break | None:
    def broken(what: str, expected: str, found: str) -> Break:
        return Break(incident_id, event.seq, event.id, what, expected, found)

    if event.incident_id != incident_id:
        return broken("incident id", incident_id, event.incident_id)
    if previous is not None and event.seq <= previous.seq:
        return broken("seq out of order", f"> {previous.seq}", str(event.seq))
    if not event.hash and not event.prev_hash:
        # Unchained events may only come before the chain began; after it they are a cut.
        return broken("unchained event inside the chain", "a hash", "none") if started else None
    expected_prev = GENESIS if previous is None else link_of(previous)
    if event.prev_hash != expected_prev:
        return broken("prev_hash", expected_prev, event.prev_hash)
    recomputed = digest(event.prev_hash, event)
    if event.hash != recomputed:
        return broken("hash", recomputed, event.hash)
    return None


def decision_facts(request: ActionRequest) -> dict[str, Any]:
    """What the timeline records about a filed request's decision (and its plan, if any)."""
    decision = request.decision
    facts: dict[str, Any] = {
        "decision_id": decision.id,
        "outcome": decision.outcome.value,
        "rules": [hit.rule_id for hit in decision.reasons],
        "policy_revision": decision.policy_revision,
        "approvals_required": decision.approvals_required,
        "eligible_approvers": list(decision.eligible_approvers),
        "proposal": request.proposal.model_dump(mode="json"),
    }
    planned = request.model_dump(mode="json", include={"plan", "plan_hash"})
    facts.update({key: value for key, value in planned.items() if value})
    return facts


# evidence bundles ---------------------------------------------------------------------------


def build_bundle(
    incident: Mapping[str, Any],
    alerts: Sequence[Mapping[str, Any]],
    triages: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
    events: Sequence[Event],
    exported_at: str,
) -> dict[str, Any]:
    """An evidence bundle: the incident's records (as JSON values) and its chained timeline."""
    report = verify_chain(str(incident["id"]), events)
    return {
        "format": BUNDLE_FORMAT,
        "exported_at": exported_at,
        "incident": dict(incident),
        "alerts": [dict(a) for a in alerts],
        # The model exchanges: prompt version and hash, model, raw replies, errors, usage.
        "triages": [dict(t) for t in triages],
        "decisions": [
            {"request_id": r["id"], "proposal": r["proposal"], "decision": r["decision"]}
            for r in requests
        ],
        "votes": [
            {**approval, "request_id": r["id"]} for r in requests for approval in r["approvals"]
        ],
        "plans": [
            {"request_id": r["id"], "plan": r.get("plan"), "plan_hash": r.get("plan_hash", "")}
            for r in requests
            if r.get("plan") or r.get("plan_hash")
        ],
        "results": [
            {"request_id": r["id"], "state": r["state"], "result": r["result"], "error": r["error"]}
            for r in requests
        ],
        "events": [e.model_dump(mode="json") for e in events],
        "chain": {"head": report.head, "events": report.events, "legacy": report.legacy},
    }


@dataclass
class BundleReport:
    """A bundle checked offline: its chain, and where its records disagree with the events."""

    chain: ChainReport
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain holds and every record agrees with the timeline."""
        return self.chain.ok and not self.problems


def verify_bundle(bundle: Mapping[str, Any]) -> BundleReport:
    """Recompute the bundle's chain from its events and cross-check its other records."""
    if bundle.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"not an evidence bundle (format {bundle.get('format')!r})")
    incident_id = str(bundle["incident"]["id"])
    events = [Event.model_validate(raw) for raw in bundle["events"]]
    report = BundleReport(verify_chain(incident_id, events))
    problems = report.problems
    if report.chain.ok and bundle["chain"].get("head") != report.chain.head:
        problems.append(
            f"chain head: expected {report.chain.head or '(empty)'}, "
            f"found {bundle['chain'].get('head') or '(empty)'}"
        )
    by_request: dict[str, list[Event]] = {}
    for event in events:
        request_id = event.data.get("request_id")
        if isinstance(request_id, str):
            by_request.setdefault(request_id, []).append(event)
    problems.extend(_decision_problems(bundle, by_request))
    problems.extend(_vote_problems(bundle, by_request))
    problems.extend(_result_problems(bundle, by_request))
    problems.extend(_triage_problems(bundle, events))
    return report


def _decision_problems(
    bundle: Mapping[str, Any], by_request: Mapping[str, list[Event]]
) -> list[str]:
    problems: list[str] = []
    for record in bundle["decisions"]:
        decision = record["decision"]
        filed = [e for e in by_request.get(record["request_id"], []) if "decision_id" in e.data]
        if not filed:
            problems.append(f"decision {decision['id']}: no event records it")
            continue
        # A re-planned request carries its latest decision: the last event that recorded one.
        data = filed[-1].data
        for key, value in (
            ("decision_id", decision["id"]),
            ("policy_revision", decision["policy_revision"]),
            ("outcome", decision["outcome"]),
        ):
            if key in data and data[key] != value:
                problems.append(
                    f"decision {decision['id']}: {key} {value!r} but event seq "
                    f"{filed[-1].seq} says {data[key]!r}"
                )
    for record in bundle["plans"]:
        planned = [e for e in by_request.get(record["request_id"], []) if "plan_hash" in e.data]
        if planned and planned[-1].data["plan_hash"] != record["plan_hash"]:
            problems.append(
                f"plan of {record['request_id']}: hash {record['plan_hash']!r} but event seq "
                f"{planned[-1].seq} says {planned[-1].data['plan_hash']!r}"
            )
    return problems


def _vote_problems(bundle: Mapping[str, Any], by_request: Mapping[str, list[Event]]) -> list[str]:
    problems: list[str] = []
    for vote in bundle["votes"]:
        recorded = [
            e
            for e in by_request.get(vote["request_id"], [])
            if e.actor == vote["user_id"] and e.data.get("vote") == vote["vote"]
        ]
        if not recorded:
            problems.append(
                f"vote {vote['vote']} by {vote['user_id']} on {vote['request_id']}: "
                "no event records it"
            )
    return problems


def _result_problems(bundle: Mapping[str, Any], by_request: Mapping[str, list[Event]]) -> list[str]:
    problems: list[str] = []
    for record in bundle["results"]:
        finished = [
            e
            for e in by_request.get(record["request_id"], [])
            if e.kind.value == f"action.{record['state']}" and "result" in e.data
        ]
        if finished and finished[-1].data["result"] != record["result"]:
            problems.append(
                f"result of {record['request_id']}: differs from event seq {finished[-1].seq}"
            )
    return problems


def _triage_problems(bundle: Mapping[str, Any], events: Sequence[Event]) -> list[str]:
    problems: list[str] = []
    recorded = {e.data.get("triage_id"): e for e in events if e.kind is EventKind.TRIAGE_COMPLETED}
    for triage in bundle["triages"]:
        event = recorded.get(triage["id"])
        if event is None:
            continue  # a triage whose application failed leaves no event; nothing to compare
        said = event.data.get("prompt_version")
        if said is not None and said != triage["prompt_version"]:
            problems.append(
                f"triage {triage['id']}: prompt version {triage['prompt_version']!r} but event "
                f"seq {event.seq} says {said!r}"
            )
    return problems
