"""What an executed request returned, as evidence: redacted text, and whether it has signal.

Output has *signal* when the action really ran (live, not a dry run), succeeded, and returned
non-blank text; that is the rule for "it changes the picture" (``pipeline/diagnostics.py``).
A piece of evidence reaches the next triage as an alert-shaped value (``evidence_alert``) that
is never stored as an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.models import ActionRequest, ActionState, Alert, Event, Incident
from bot.redaction import Redactor

# What a triage reads of one piece of evidence.
EVIDENCE_CONTEXT_CHARS = 2_000
EVIDENCE_SOURCE = "evidence"
# Result fields that hold what an executor returned, in the order they are shown.
OUTPUT_FIELDS = ("stdout", "stderr", "response", "text")


@dataclass(frozen=True)
class Evidence:
    """What one request returned, redacted, and whether it tells anything new."""

    request: ActionRequest
    text: str
    signal: bool


def evidence_of(request: ActionRequest, redactor: Redactor) -> Evidence:
    """The output of an executed request as evidence, redacted whole."""
    result: dict[str, Any] = request.result or {}
    if request.state is not ActionState.SUCCEEDED:
        text = f"{request.state.value}: {request.error or 'no output'}"
        return Evidence(request, redactor.redact(text), False)
    if result.get("dry_run") or result.get("mode") == "dry_run":
        shown = request.plan.shown() if request.plan else request.proposal.action
        return Evidence(request, redactor.redact(f"Dry run: nothing ran.\n{shown}"), False)
    parts = []
    for name in OUTPUT_FIELDS:
        value = result.get(name)
        if isinstance(value, str) and value.strip():
            parts.append(f"[stderr]\n{value}" if name == "stderr" else value)
    text = redactor.redact("\n".join(parts))
    return Evidence(request, text, bool(text.strip()))


def evidence_alert(event: Event, incident: Incident) -> Alert:
    """A piece of evidence from the timeline (``action.evidence``) as the triage reads alerts."""
    action = str(event.data.get("action", "an action"))
    return Alert(
        source=EVIDENCE_SOURCE,
        fingerprint=event.id,
        group_key=incident.group_key or incident.id,
        service=incident.service,
        title=f"Evidence from {action} (run by the bot)",
        description=str(event.data.get("output", ""))[:EVIDENCE_CONTEXT_CHARS],
        received_at=event.at,
        incident_id=incident.id,
    )


# How much of an executor's output a one-line summary quotes.
SUMMARY_OUTPUT_CHARS = 160


def result_in_words(request: ActionRequest) -> str:
    """What an executed request did, in one plain line for people (the card, the review).

    The stored result stays whole on the request and in the audit export; this is what a
    responder reads: a dry run says nothing ran, a command its exit code and last output line,
    an HTTP call or a page its status, a query its summary. Untrusted text is returned as is:
    the caller escapes it for its surface.
    """
    result: dict[str, Any] = request.result or {}
    if request.state is not ActionState.SUCCEEDED and request.error:
        return request.error
    if result.get("dry_run") or result.get("mode") == "dry_run":
        return "dry run: recorded, nothing ran"
    if "exit_code" in result:
        return _with_output(f"exit code {result['exit_code']}", result.get("stdout"))
    if "dedup_key" in result:
        service = result.get("service") or "the on-call"
        status = result.get("status", "?")
        return f"paged {service}'s on-call (HTTP {status}, dedup key {result['dedup_key']})"
    if "status" in result:
        where = f" from {result['url']}" if result.get("url") else ""
        return _with_output(f"HTTP {result['status']}{where}", result.get("response"))
    if "series" in result:
        return f"{result['series']} series: {result.get('text') or 'no data'}"
    return "done, nothing returned" if not result else "done"


def _with_output(head: str, output: Any) -> str:
    lines = [line.strip() for line in str(output or "").splitlines() if line.strip()]
    if not lines:
        return head
    last = lines[-1]
    if len(last) > SUMMARY_OUTPUT_CHARS:
        last = last[: SUMMARY_OUTPUT_CHARS - 1] + "…"
    return f"{head}: {last}"
