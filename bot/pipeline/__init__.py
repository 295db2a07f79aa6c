"""The flow, end to end. Read this page to understand the bot; each stage is one module.

    intake.py      1. a payload in: parse -> Alerts, dedup, group into Incidents, store raw
                      (redacted), queue triage                              (``receive``)
    triaging.py    2. triage: runbooks -> prompt -> model or rules -> validated Triage
                   3. policy: every proposal -> Decision (deny | require_approval | allow)
                   4. action requests filed, the card posted         (``triage_incident``)
                      start-up: let go of an earlier boot's leases, queue the untriaged
                      (``recover``); sweep: ``triage_untriaged``
    approvals.py   5. votes: authorisation, N-of-M, requester != approver, expiry  (``vote``)
                   6. execution through ``actions.execute``, the only door to side effects
                      sweeps: expiry and reminders        (``expire_requests``, ``remind_waiting``)
    executions.py  7. claims that lapsed mid-run -> outcome_unknown, never re-run
                      (``settle_lapsed_executions``); asking again files a new request
                      through policy                                     (``request_again``)
    command.py     incident command: declare, report, resolve (cancels what could still run),
                   feedback, and reading back for status, timeline and the review
    roles.py       who commands, scribes and talks: a role handed over by the commander, an
                   approver or an admin (anyone while nobody commands), CAS  (``assign_role``)
    escalation.py  whom a ping reaches: the commander, then the on-call escalation list, else
                   the service's approvers; never the whole channel   (``people_to_tell``)
    correcting.py  a responder corrects the category (and severity); kept on the incident
                   and in the timeline, scored by the accuracy report     (``recategorize``)
    evidence.py    an alert's own series (generatorURL's PromQL) queried before triage, its
                   summary kept for the triage, its chart posted in the thread
    watching.py    7b. did it work? a succeeded action that declares ``verify`` is watched
    verification.py    sweep: verified as soon as its check holds, not_verified when the
                   window ends first (then re-triage, commander pinged)   (``verify_due``)
    undoing.py     8. undo: the inverse of a succeeded request, with the values its
                      pre-checks captured, filed as a new request through policy
                      (``request_undo``)
    breaking_glass.py  a freeze-blocked request filed again with a justification; policy
                      asks one more approval, from the break-glass group   (``break_glass``)
    queue.py       the bounded triage queue with a fixed number of workers
    deliveries.py  the durable outbox: every chat message stored, then sent once, in order;
                   sweep: send what is due, record late card ids and failures (``deliver_due``)
    records.py     reading the record back for audits: decision history (policy replay),
                   the timeline's hash chains, evidence bundles
    retention.py   sweep: raw payloads and finished deliveries past their retention are
                   deleted, a bounded batch per run, one replica at a time       (``prune``)
    notes.py       notes (``/incident note``) and pins in the incident channel, on the timeline
    updates.py     status updates (``/incident update``): timeline, last-update time, posted in
                   the incident's conversation and the broadcast channel    (``post_update``);
                   a person sets the severity                         (``change_severity``)
    update_reminders.py  sweep: an open SEV0/SEV1 incident with no status update for
                   UPDATE_REMINDER_MINUTES is asked for one (the commander, else the escalation
                   list), claimed by CAS so one replica asks              (``request_updates``)
    drift.py       sweep: triage accuracy per category over its last N judged incidents, on
                   /metrics, posted once a day when below the threshold       (``check_drift``)
    waiting.py     what waits for one person: approvals, incidents they command, SEV0/SEV1
    stage.py       the ports every stage works with, and card bookkeeping they share

Storage, chat, the model and the runbook index are ports (``bot/ports.py``) handed in by the
composition root (``bot/compose``). Every edge — web, Slack, CLI, scheduler — calls a method of
``Pipeline`` and nothing else writes to the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.pipeline.approvals import Nudge, nudge_due
from bot.pipeline.breaking_glass import BreakingGlass, GlassResult, GlassStatus
from bot.pipeline.command import (
    Acknowledged,
    AckStatus,
    Command,
    Declared,
    ResolveResult,
    ResolveStatus,
)
from bot.pipeline.correcting import Corrected, Correcting
from bot.pipeline.deliveries import Delivering, DeliveryOptions, Dispatcher
from bot.pipeline.drift import Drifting
from bot.pipeline.executions import AgainResult, AgainStatus, Executions
from bot.pipeline.intake import IngestReceipt
from bot.pipeline.notes import Notes
from bot.pipeline.queue import TriageQueue
from bot.pipeline.records import Records
from bot.pipeline.retention import Pruned, Retention
from bot.pipeline.roles import Assigned, AssignStatus, Roles
from bot.pipeline.stage import FlowOptions, NoDirectory
from bot.pipeline.triaging import TriageResult
from bot.pipeline.undoing import Undoing, UndoResult, UndoStatus
from bot.pipeline.update_reminders import UpdateReminders
from bot.pipeline.updates import SeverityChange, SeverityStatus, Updates
from bot.pipeline.verification import Verifying
from bot.pipeline.waiting import Awaiting, Waiting

__all__ = [
    "AgainResult",
    "AgainStatus",
    "Assigned",
    "AssignStatus",
    "Awaiting",
    "Corrected",
    "Acknowledged",
    "AckStatus",
    "Declared",
    "DeliveryOptions",
    "Dispatcher",
    "FlowOptions",
    "GlassResult",
    "GlassStatus",
    "IngestReceipt",
    "NoDirectory",
    "Nudge",
    "Pipeline",
    "Pruned",
    "ResolveResult",
    "ResolveStatus",
    "SeverityChange",
    "SeverityStatus",
    "TriageQueue",
    "TriageResult",
    "UndoResult",
    "UndoStatus",
    "nudge_due",
]


@dataclass
class Pipeline(
    Roles,
    Command,
    Drifting,
    Correcting,
    Undoing,
    BreakingGlass,
    Executions,
    Verifying,
    Delivering,
    Records,
    Retention,
    Waiting,
    Notes,
    Updates,
    UpdateReminders,
):
    """Every stage of the flow over one set of ports (see the module docstring)."""

    def start(self) -> None:
        """Start the triage workers on the running loop."""
        self.triage_queue.start(self._triage_queued)

    async def stop(self) -> None:
        """Let queued triage finish (bounded), then stop the workers."""
        await self.triage_queue.stop()

    async def _triage_queued(self, incident_id: str) -> None:
        await self.triage_incident(incident_id, self.clock())
