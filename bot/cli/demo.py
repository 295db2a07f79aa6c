"""``incident-bot demo``: bundled sample alerts through every stage, offline, printed as it goes."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from bot.cli.card_text import blocks_as_text
from bot.cli.terminal import say
from bot.clock import utcnow
from bot.compose import Root
from bot.models import ActionRequest, ActionState, Vote
from bot.notify import RecordingNotifier
from bot.pipeline import Pipeline, TriageResult, UndoStatus
from bot.pipeline.watching import condition
from bot.postmortem import build_postmortem, people_in
from bot.runtime import Runtime
from bot.slack.blocks import CardContext, make_clean, triage_card
from bot.timeline import render_text

STAGES = 8


# Where the demo's runbooks would be browsed (RUNBOOK_REPO_URL in a real deployment).
DEMO_RUNBOOK_URL = "https://github.com/org/repo/blob/main/runbooks/"


def _stage(n: int, title: str) -> None:
    say()
    say(f"── [{n}/{STAGES}] {title} " + "─" * max(0, 60 - len(title)))


def sample_payloads(now: datetime | None = None) -> list[tuple[str, bytes]]:
    """(file name, bytes) of the bundled sample alerts, in order; with ``now``, their times are
    moved so the last one ended a minute before it (the card then reads "started 29m ago")."""
    folder = resources.files("bot") / "data" / "demo"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    bodies = [(name, (folder / name).read_bytes()) for name in names]
    if now is None:
        return bodies
    stamps = [_when(m) for _, body in bodies for m in SAMPLE_TIME.finditer(body.decode())]
    shift = now - timedelta(minutes=1) - max(stamps)
    return [(name, _moved(body, shift)) for name, body in bodies]


# An RFC 3339 time in the samples; Alertmanager's zero time (0001-01-01) does not match.
SAMPLE_TIME = re.compile(r"(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z")


def _when(match: re.Match[str]) -> datetime:
    return datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))


def _moved(body: bytes, shift: timedelta) -> bytes:
    def move(match: re.Match[str]) -> str:
        return (_when(match) + shift).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return SAMPLE_TIME.sub(move, body.decode()).encode()


def _source_of(name: str) -> str:
    return name.split("-")[1]


@dataclass
class Walk:
    """What the stages hand on to each other."""

    runtime: Runtime
    new_incidents: list[str] = field(default_factory=list)
    results: list[TriageResult] = field(default_factory=list)

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline under demonstration."""
        return self.runtime.pipeline

    def redact(self, text: str) -> str:
        """Redact as every egress does."""
        return self.pipeline.redactor.redact(text)


async def run_demo(root: Root) -> int:
    """Run the walk-through in a throw-away store; returns the exit code."""
    with tempfile.TemporaryDirectory(prefix="incident-bot-demo-") as tmp:
        # Slack is off: the notifier only records, so the walk-through is not interleaved with logs.
        walk = Walk(root.offline(Path(tmp)).runtime(notifier=RecordingNotifier()))
        try:
            _introduce(walk)
            payloads = sample_payloads(utcnow())
            await _ingest([p for p in payloads if "resolved" not in p[0]], walk)
            await _triage(walk)
            _judge(walk)
            await _card(walk)
            await _approve(walk)
            await _resolve([p for p in payloads if "resolved" in p[0]], walk)
            await _timeline(walk)
            await _review(walk)
        finally:
            await walk.runtime.store.close()
    return 0


def _introduce(walk: Walk) -> None:
    say("incident-bot demo: offline walk-through on bundled sample alerts")
    say(
        f"  store: throw-away SQLite file · triage: offline rules engine (no LLM) · "
        f"policy revision {walk.runtime.policy.revision[:12]} · executor: dry_run · Slack: off"
    )


async def _ingest(firing: list[tuple[str, bytes]], walk: Walk) -> None:
    _stage(1, "ingest: parse, fingerprint, group into incidents")
    for name, body in firing:
        receipt = await walk.pipeline.ingest(_source_of(name), body, "application/json", utcnow())
        say(
            f"{name}: {receipt.received} alert(s), {receipt.stored} stored, "
            f"{receipt.duplicates} duplicate(s)"
        )
        for alert in receipt.alerts:
            flags = f" flags={alert.service_flags}" if alert.service_flags else ""
            say(
                f"   · [{alert.status.value}] {alert.service} · {walk.redact(alert.title)} "
                f"· fp={alert.fingerprint[:12]}{flags} → {alert.incident_id}"
            )
        walk.new_incidents += receipt.new_incident_ids
    again = await walk.pipeline.ingest(_source_of(firing[0][0]), firing[0][1], None, utcnow())
    say(
        f"re-sent {firing[0][0]}: {again.duplicates} duplicate(s), "
        f"{len(again.new_incident_ids)} new incident(s) (dedup by fingerprint + start time)"
    )


async def _triage(walk: Walk) -> None:
    _stage(2, "triage: runbooks retrieved, rules engine classifies (no LLM)")
    for incident_id in walk.new_incidents:
        result = await walk.pipeline.triage_incident(incident_id, utcnow())
        if result is None:
            continue
        walk.results.append(result)
        t = result.triage
        say(
            f"{incident_id} {result.incident.service}: {t.category.value} / {t.severity.value} "
            f"confidence {t.confidence:.2f} · {t.execution_status.value} · provider {t.provider}"
        )
        say(f"   summary: {walk.redact(t.summary)}")
        cited = ", ".join(f"{r.id}@{r.version}" for r in t.runbooks) or "none"
        say(f"   runbooks: {cited}")


def _judge(walk: Walk) -> None:
    _stage(3, "policy: every proposal judged against allowlist and service tier")
    for result in walk.results:
        for request in result.requests:
            d = request.decision
            say(
                f"{result.incident.id} {request.proposal.action}({request.proposal.service}) → "
                f"{d.outcome.value} (approvals {d.approvals_required}) "
                f"· state {request.state.value}"
            )
            for hit in d.reasons:
                say(f"   - {hit.rule_id}: {hit.reason}")
            if request.plan is not None:
                say(f"   plan: {request.plan.summary}:")
                for line in walk.redact(request.plan.shown()).splitlines():
                    say(f"     {line}")
                say(f"     plan hash {request.plan_hash[:16]} (the Approve button carries it)")
            elif request.error:
                say(f"   no plan: {request.error}")


async def _show_card(walk: Walk, incident_id: str) -> None:
    """The incident's latest card as it stands in the store, drawn by the card builder Slack
    gets (redacted and escaped the same way), shown as text."""
    store = walk.runtime.store
    incident = await store.get_incident(incident_id)
    triages = await store.list_triages(incident_id)
    if not triages:
        return
    triage = triages[-1]
    requests = [
        r for r in await store.list_action_requests(incident_id) if r.triage_id == triage.id
    ]
    alerts = await store.list_alerts(incident_id, limit=5)
    context = CardContext(now=utcnow(), runbook_url=DEMO_RUNBOOK_URL)
    clean = make_clean(walk.pipeline.redactor.redact)
    say(blocks_as_text(triage_card(incident, triage, requests, alerts, clean, context)))


async def _card(walk: Walk) -> None:
    _stage(4, "triage card (as Slack would show it, rendered as text)")
    if walk.results:
        await _show_card(walk, walk.results[0].incident.id)


async def _approve(walk: Walk) -> None:
    _stage(5, "acknowledge, update, approve — SIMULATED clicks and commands, no Slack involved")
    if walk.results:
        first = walk.results[0].incident
        taken = await walk.pipeline.acknowledge(first.id, "U0DEMOUSER", utcnow())
        say(f"(simulated) U0DEMOUSER clicks Acknowledge → {taken.status.value}")
        update = "Canary of release 2026.11.23-1 suspected; collecting diagnostics"
        await walk.pipeline.post_update(first.id, "U0DEMOUSER", update, utcnow())
        say(f"(simulated) U0DEMOUSER: /incident update {update}")
    pending = [
        r for res in walk.results for r in res.requests if r.state is ActionState.PENDING_APPROVAL
    ]
    if not pending:
        say("no proposal is waiting for approval")
        return
    request = pending[0]
    users = [a for a in request.decision.eligible_approvers if a[:1] in ("U", "W")]
    say(
        f"request {request.id}: {request.proposal.action} on {request.proposal.service}, "
        f"needs {request.decision.approvals_required} approval(s) from {users}"
    )
    clickers = [
        request.requested_by,
        "U0NOTANAPPROVER",
        *users[: request.decision.approvals_required],
    ]
    shown = request.plan_hash[:16]
    for user in clickers:
        result = await walk.pipeline.vote(request.id, user, Vote.APPROVE, utcnow(), card_hash=shown)
        verdict = "accepted" if result.accepted else "refused"
        say(f"   (simulated) {user} clicks Approve → {verdict}: {result.status.value}")
        if result.executed and result.request is not None:
            say(f"   executed by the dry_run executor: {result.request.result}")
    final = await walk.runtime.store.get_action_request(request.id)
    say(f"   final state: {final.state.value}")
    await _after(walk, final)


async def _after(walk: Walk, request: ActionRequest) -> None:
    """Verification and undo for the executed request, said honestly for a dry run."""
    if request.state is not ActionState.SUCCEEDED:
        return
    spec = walk.runtime.policy.actions.get(request.proposal.action)
    verify = spec.verify if spec is not None else None
    what = condition(verify) if verify else "no verify block is declared for this action"
    say(f"   verification — SIMULATED (no Prometheus, nothing ran): would watch: {what}")
    for captured in request.captures:
        say(f"   capture {captured.name}: dry run, would read with `{captured.read}`")
    undo = await walk.pipeline.request_undo(request.id, "U0DEMOUSER", utcnow())
    if undo.status is UndoStatus.FILED and undo.request is not None:
        say(f"   Undo offered and filed: {undo.request.id} ({undo.request.state.value})")
    else:
        say(f"   Undo not offered: {undo.problem or undo.status.value}")


async def _resolve(resolution: list[tuple[str, bytes]], walk: Walk) -> None:
    _stage(6, "resolution: the source resolves the alerts")
    for name, body in resolution:
        receipt = await walk.pipeline.ingest(_source_of(name), body, "application/json", utcnow())
        say(f"{name}: {receipt.stored} resolved alert(s) filed on {receipt.incident_ids}")
    for incident in await walk.pipeline.incidents(None, limit=10):
        say(
            f"   {incident.id} {incident.service:<16} {incident.status.value:<8} "
            f"{incident.severity.value} {incident.category.value} x{incident.alert_count}"
        )
    if walk.results:
        say("the first incident's card now (updated in place in Slack):")
        await _show_card(walk, walk.results[0].incident.id)


async def _timeline(walk: Walk) -> None:
    _stage(7, "timeline of the first incident (the audit trail)")
    if walk.new_incidents:
        say(walk.redact(render_text(await walk.pipeline.timeline_of(walk.new_incidents[0]))))


async def _review(walk: Walk) -> None:
    _stage(8, "post-incident review of the first incident (the markdown file Slack gets)")
    if not walk.new_incidents:
        return
    incident_id = walk.new_incidents[0]
    await walk.pipeline.add_note(
        incident_id, "U0DEMOUSER", "Rolled back the canary; 5xx back under 1%", utcnow()
    )
    facts = await walk.pipeline.postmortem_facts(incident_id)
    # In Slack, users.info gives display names; the demo has no Slack, so it names its users.
    names = {user: f"Demo {user[2:].capitalize()}" for user in people_in(facts)}
    say(walk.redact(build_postmortem(facts, utcnow(), names=names)).rstrip("\n"))
    say()
    say(
        "Next: `incident-bot serve` to receive webhooks, `incident-bot triage FILE` for one "
        "payload, README.md for Slack and LLM set-up."
    )
