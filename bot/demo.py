"""``incident-bot demo``: bundled sample alerts through every stage, offline, printed as it goes."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from bot.app import Services, build_services
from bot.clock import utcnow
from bot.config import LLMProvider, Settings
from bot.models import ActionRequest, ActionState, Vote
from bot.pipeline import TriageResult
from bot.redaction import Redactor
from bot.reports import render_card_text
from bot.timeline import render_text


def _say(text: str = "") -> None:
    print(text, flush=True)


def _stage(n: int, title: str) -> None:
    _say()
    _say(f"── [{n}/7] {title} " + "─" * max(0, 60 - len(title)))


def sample_payloads() -> list[tuple[str, bytes]]:
    """(file name, bytes) of the bundled sample alerts, in order."""
    folder = resources.files("bot") / "data" / "demo"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    return [(name, (folder / name).read_bytes()) for name in names]


def _source_of(name: str) -> str:
    return name.split("-")[1]


async def run_demo(settings: Settings) -> int:
    """Run the walk-through in a throw-away store; returns the exit code."""
    with tempfile.TemporaryDirectory(prefix="incident-bot-demo-") as tmp:
        demo_settings = settings.model_copy(
            update={
                "sqlite_path": Path(tmp) / "demo.db",
                "runbook_index_path": Path(tmp) / "runbooks.db",
                "llm_provider": LLMProvider.RULES,
                "slack_bot_token": None,
                "slack_signing_secret": None,
            }
        )
        services = build_services(demo_settings)
        try:
            await _walk(services, Redactor(settings.redact_extra_patterns))
        finally:
            await services.store.close()
    return 0


async def _walk(services: Services, redactor: Redactor) -> None:
    pipeline = services.pipeline
    _say("incident-bot demo: offline walk-through on bundled sample alerts")
    _say(
        f"  store: throw-away SQLite file · triage: offline rules engine (no LLM) · "
        f"policy revision {services.policy.revision[:12]} · executor: dry_run · Slack: off"
    )

    payloads = sample_payloads()
    resolution = [p for p in payloads if "resolved" in p[0]]
    firing = [p for p in payloads if "resolved" not in p[0]]

    _stage(1, "ingest: parse, fingerprint, group into incidents")
    new_incidents: list[str] = []
    for name, body in firing:
        receipt = await pipeline.ingest(_source_of(name), body, "application/json", utcnow())
        _say(
            f"{name}: {receipt.received} alert(s), {receipt.stored} stored, "
            f"{receipt.duplicates} duplicate(s)"
        )
        for alert in receipt.alerts:
            flags = f" flags={alert.service_flags}" if alert.service_flags else ""
            _say(
                f"   · [{alert.status.value}] {alert.service} · {redactor.redact(alert.title)} "
                f"· fp={alert.fingerprint[:12]}{flags} → {alert.incident_id}"
            )
        new_incidents += receipt.new_incident_ids
    again = await pipeline.ingest(_source_of(firing[0][0]), firing[0][1], None, utcnow())
    _say(
        f"re-sent {firing[0][0]}: {again.duplicates} duplicate(s), "
        f"{len(again.new_incident_ids)} new incident(s) (dedup by fingerprint + start time)"
    )

    _stage(2, "triage: runbooks retrieved, rules engine classifies (no LLM)")
    results: list[TriageResult] = []
    for incident_id in new_incidents:
        result = await pipeline.triage_incident(incident_id, utcnow())
        if result is None:
            continue
        results.append(result)
        t = result.triage
        _say(
            f"{incident_id} {result.incident.service}: {t.category.value} / {t.severity.value} "
            f"confidence {t.confidence:.2f} · {t.execution_status.value} · provider {t.provider}"
        )
        _say(f"   summary: {redactor.redact(t.summary)}")
        cited = ", ".join(f"{r.id}@{r.version}" for r in t.runbooks) or "none"
        _say(f"   runbooks: {cited}")

    _stage(3, "policy: every proposal judged against allowlist and service tier")
    for result in results:
        for request in result.requests:
            d = request.decision
            _say(
                f"{result.incident.id} {request.proposal.action}({request.proposal.service}) → "
                f"{d.outcome.value} (approvals {d.approvals_required}) "
                f"· state {request.state.value}"
            )
            for hit in d.reasons:
                _say(f"   - {hit.rule_id}: {hit.reason}")

    _stage(4, "triage card (as Slack would show it, rendered as text)")
    if results:
        first = results[0]
        alerts = await services.store.list_alerts(first.incident.id, limit=5)
        _say(render_card_text(first.incident, first.triage, first.requests, alerts, redactor))

    _stage(5, "approval — SIMULATED clicks, no Slack involved")
    pending = [
        r for res in results for r in res.requests if r.state is ActionState.PENDING_APPROVAL
    ]
    if pending:
        await _simulate_approval(services, pending[0])
    else:
        _say("no proposal is waiting for approval")

    _stage(6, "resolution: the source resolves the alerts")
    for name, body in resolution:
        receipt = await pipeline.ingest(_source_of(name), body, "application/json", utcnow())
        _say(f"{name}: {receipt.stored} resolved alert(s) filed on {receipt.incident_ids}")
    for incident in await services.store.list_incidents(limit=10):
        _say(
            f"   {incident.id} {incident.service:<16} {incident.status.value:<8} "
            f"{incident.severity.value} {incident.category.value} x{incident.alert_count}"
        )

    _stage(7, "timeline of the first incident (the audit trail)")
    if new_incidents:
        _say(redactor.redact(render_text(await services.store.list_events(new_incidents[0]))))
    _say()
    _say(
        "Next: `incident-bot serve` to receive webhooks, `incident-bot triage FILE` for one "
        "payload, README.md for Slack and LLM set-up."
    )


async def _simulate_approval(services: Services, request: ActionRequest) -> None:
    pipeline = services.pipeline
    users = [a for a in request.decision.eligible_approvers if a[:1] in ("U", "W")]
    _say(
        f"request {request.id}: {request.proposal.action} on {request.proposal.service}, "
        f"needs {request.decision.approvals_required} approval(s) from {users}"
    )
    refused = await pipeline.vote(request.id, request.requested_by, Vote.APPROVE, utcnow())
    _say(
        f"   (simulated) the requester {request.requested_by} clicks Approve → "
        f"{'accepted' if refused.accepted else 'refused'}: {refused.message}"
    )
    refused = await pipeline.vote(request.id, "U0NOTANAPPROVER", Vote.APPROVE, utcnow())
    _say(
        f"   (simulated) U0NOTANAPPROVER clicks Approve → "
        f"{'accepted' if refused.accepted else 'refused'}: {refused.message}"
    )
    for user in users[: request.decision.approvals_required]:
        outcome = await pipeline.vote(request.id, user, Vote.APPROVE, utcnow())
        _say(
            f"   (simulated) {user} clicks Approve → "
            f"{'accepted' if outcome.accepted else 'refused'}: {outcome.message}"
        )
        if outcome.executed:
            _say(f"   executed by the dry_run executor: {outcome.request.result}")
    final = await services.store.get_action_request(request.id)
    _say(f"   final state: {final.state.value}")
