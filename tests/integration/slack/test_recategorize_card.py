"""The card's Recategorize / Severity menus, chosen in signed block_actions payloads sent to a
running bot; the correction is read back from its SQLite store and the Slack stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.models import Category, EventKind, Incident, Severity
from bot.store.sqlite import SQLiteStore
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder

pytestmark = pytest.mark.integration

RECATEGORIZE = "incident_recategorize"
SET_SEVERITY = "incident_set_severity"
CORRECTED = EventKind.TRIAGE_CORRECTED


def stored_incident(bot: BotProcess, incident_id: str) -> tuple[Incident, list[EventKind]]:
    store = SQLiteStore(Path(bot.env["SQLITE_PATH"]))
    try:
        incident = asyncio.run(store.get_incident(incident_id))
        kinds = [e.kind for e in asyncio.run(store.list_events(incident_id))]
        return incident, kinds
    finally:
        asyncio.run(store.close())


def wait_stored(
    bot: BotProcess, incident_id: str, holds: Any, timeout: float = 15.0
) -> tuple[Incident, list[EventKind]]:
    deadline = time.monotonic() + timeout
    while True:
        found = stored_incident(bot, incident_id)
        if holds(*found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"the store never got there: {found[0]}")
        time.sleep(0.1)


def blocks_of(call: Call) -> list[dict[str, Any]]:
    raw = call.args.get("blocks") or []
    return json.loads(raw) if isinstance(raw, str) else list(raw)


def menus(call: Call) -> tuple[str, dict[str, dict[str, Any]]]:
    """The correction block's id and its menus by action id (empty when it has none)."""
    for block in blocks_of(call):
        if block["type"] == "actions" and block.get("block_id", "").startswith("correct:"):
            return block["block_id"], {e["action_id"]: e for e in block["elements"]}
    return "", {}


def ephemeral(recorder: SlackRecorder, user: str, text: str) -> Call:
    return recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == user and text in c.args.get("text", ""),
    )[0]


def open_card(bot: BotProcess, recorder: SlackRecorder, title: str) -> tuple[Call, str]:
    """Triage ``title`` (scripted as latency on checkout); its card once it is placed."""
    recorder.triages[title] = scripted_triage("checkout", [], category="latency")
    bot.command(f"triage {title} checkout answers slowly", hook=title)
    card = recorder.wait_for(
        "chat.postMessage", lambda c: title in json.dumps(c.args) and "blocks" in c.args
    )[0]
    block_id, _ = menus(card)
    incident_id = block_id.split(":")[1]
    # The click is checked against where the card is stored: wait until it is recorded.
    wait_stored(
        bot,
        incident_id,
        lambda i, _: i.card is not None and i.card.thread == card.answer["ts"],
    )
    return card, incident_id


def test_choosing_a_category_on_the_card_corrects_it_and_redraws_the_card(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card, incident_id = open_card(bot, recorder, "MENU-CAT")
    ts, channel = card.answer["ts"], card.args["channel"]
    block_id, shown = menus(card)
    category = shown[RECATEGORIZE]
    assert [o["value"] for o in category["options"]] == [c.value for c in Category]
    assert category["initial_option"]["value"] == "latency"
    assert category["placeholder"]["text"] == "Recategorize…"
    severity = shown[SET_SEVERITY]
    assert [o["value"] for o in severity["options"]] == [s.value for s in Severity]
    before, _ = stored_incident(bot, incident_id)
    assert severity["initial_option"]["value"] == before.severity.value

    answer = bot.choose(RECATEGORIZE, "deployment", "U0RESPOND3", channel, ts, block_id)
    assert answer.status == 200
    said = ephemeral(recorder, "U0RESPOND3", "recategorized")
    assert "from *latency* to *deployment*: from the card" in said.args["text"]
    assert said.args.get("thread_ts") == ts

    # the incident and its timeline entry are two writes: wait for both
    incident, kinds = wait_stored(
        bot, incident_id, lambda i, k: i.correction is not None and k.count(CORRECTED) == 1
    )
    assert incident.category is Category.DEPLOYMENT
    assert incident.severity is before.severity  # the category menu leaves severity alone
    assert incident.correction is not None
    assert incident.correction.by == "U0RESPOND3"
    assert incident.correction.from_category is Category.LATENCY
    assert incident.correction.reason == "from the card"
    assert kinds.count(EventKind.TRIAGE_CORRECTED) == 1

    redrawn = recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == ts and "Corrected to *deployment*" in json.dumps(c.args),
    )[0]
    flat = json.dumps(blocks_of(redrawn))
    assert "by <@U0RESPOND3> at " in flat and "(triage said *latency*, " in flat
    new_block_id, now_shown = menus(redrawn)
    assert now_shown[RECATEGORIZE]["initial_option"]["value"] == "deployment"
    assert new_block_id != block_id  # a new block id: Slack shows the new initial option

    # Then the severity menu: the category correction is kept, the severity added.
    bot.choose(SET_SEVERITY, "SEV0", "U0RESPOND3", channel, ts, new_block_id)
    incident, kinds = wait_stored(
        bot, incident_id, lambda i, k: i.severity is Severity.SEV0 and k.count(CORRECTED) == 2
    )
    assert incident.severity is Severity.SEV0
    assert incident.category is Category.DEPLOYMENT
    assert incident.correction is not None and incident.correction.severity is Severity.SEV0
    assert incident.correction.from_category is Category.LATENCY
    assert kinds.count(EventKind.TRIAGE_CORRECTED) == 2
    both = "Corrected to *deployment* (SEV0)"
    recorder.wait_for("chat.update", lambda c: c.args.get("ts") == ts and both in str(c.args))

    # A later severity change stays when the category is corrected again from the card.
    bot.command(f"severity {incident_id} SEV1 contained", hook="menu-severity")
    wait_stored(bot, incident_id, lambda i, _: i.severity is Severity.SEV1)
    bot.choose(RECATEGORIZE, "security", "U0RESPOND3", channel, ts, new_block_id)
    incident, kinds = wait_stored(
        bot, incident_id, lambda i, k: i.category is Category.SECURITY and k.count(CORRECTED) == 3
    )
    assert incident.category is Category.SECURITY
    assert incident.severity is Severity.SEV1
    assert incident.correction is not None and incident.correction.severity is Severity.SEV1
    assert kinds.count(EventKind.TRIAGE_CORRECTED) == 3


def test_the_card_refuses_unknown_forged_and_closed_choices(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    card, incident_id = open_card(bot, recorder, "MENU-REFUSE")
    _, other_id = open_card(bot, recorder, "MENU-OTHER")
    ts, channel = card.answer["ts"], card.args["channel"]
    block_id, _ = menus(card)

    # A category the bot does not know: told so, nothing stored, the bot keeps serving.
    bot.choose(RECATEGORIZE, "weather", "U0RESPOND4", channel, ts, block_id)
    ephemeral(recorder, "U0RESPOND4", "not a category or severity the bot knows")
    bot.choose(SET_SEVERITY, "SEV9", "U0RESPOND4", channel, ts, block_id)
    recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0RESPOND4" and "bot knows" in c.args.get("text", ""),
        count=2,
    )

    # This card's message, another incident's id: refused, neither incident changes.
    forged = f"correct:{other_id}:latency:SEV2"
    bot.choose(RECATEGORIZE, "security", "U0RESPOND5", channel, ts, forged)
    ephemeral(recorder, "U0RESPOND5", "does not belong to that incident's card")
    # A person id that is not one: refused as well.
    bot.choose(RECATEGORIZE, "security", "not-a-user", channel, ts, block_id)
    ephemeral(recorder, "not-a-user", "does not belong to that incident's card")

    # Resolved: the redrawn card has no menus, and a stale menu is refused.
    bot.command(f"resolve {incident_id} fixed", hook="menu-resolve")
    recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == ts and "resolved" in json.dumps(c.args) and not menus(c)[0],
    )
    bot.choose(RECATEGORIZE, "connectivity", "U0RESPOND6", channel, ts, block_id)
    closed = ephemeral(recorder, "U0RESPOND6", "its card no longer changes it")
    assert "/incident recategorize" in closed.args["text"]

    for checked in (incident_id, other_id):
        incident, kinds = stored_incident(bot, checked)
        assert incident.correction is None and incident.category is Category.LATENCY
        assert EventKind.TRIAGE_CORRECTED not in kinds
    assert "Traceback" not in bot.log()
