"""Declaring like incident.io, through the running server and the Slack stand-in: the declare
form from `/incident declare` and from the global shortcut (views.open within the request,
checked against Slack's modal limits), its signed view_submission (refusals in the ack, then
the announcement, then the triage card in its thread), and `/incident severity`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.models import Incident, Severity
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import INCIDENT_CHANNEL, Answer, BotProcess
from tests.integration.slack.recorder import Call, SlackRecorder
from tests.integration.slack.test_approvals import events_of, stored
from tests.integration.slack.test_commands import ack_text, declare, responded

pytestmark = pytest.mark.integration

FORM = "declare_incident_form"
ROOM = "C0WARROOM1"
DECLARER = "U0ONCALL01"


def view_of(call: Call) -> dict[str, Any]:
    view = call.args["view"]
    return view if isinstance(view, dict) else json.loads(view)


def opened_form(recorder: SlackRecorder, seen: int) -> Call:
    """The next declare form views.open after the ``seen`` first ones; one that breaks a
    limit of Slack's fails the wait with the reason."""
    opened = recorder.wait_for(
        "views.open", lambda c: view_of(c).get("callback_id") == FORM, count=seen + 1
    )
    assert opened[seen].ok
    return opened[seen]


def forms_opened(recorder: SlackRecorder) -> int:
    return len(recorder.find("views.open", lambda c: view_of(c).get("callback_id") == FORM))


def element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    [found] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return dict(found["element"])


def shortcut(bot: BotProcess, callback_id: str, user: str) -> Answer:
    """A global shortcut as Slack sends it: no channel, a trigger id."""
    payload = {
        "type": "shortcut",
        "token": "unused",
        "action_ts": str(time.time()),
        "team": {"id": "T0TEST0001", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST0001"},
        "callback_id": callback_id,
        "trigger_id": "1337.45.abcd",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return bot.signed(body, "application/x-www-form-urlencoded")


def values(
    title: str, severity: str, service: str | None = None, description: str = ""
) -> dict[str, Any]:
    def chosen(value: str | None) -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": value}, "value": value}
        return {"type": "static_select", "selected_option": option if value else None}

    return {
        "declare_title": {"declare_title": {"type": "plain_text_input", "value": title}},
        "declare_service": {"declare_service": chosen(service)},
        "declare_severity": {"declare_severity": chosen(severity)},
        "declare_description": {
            "declare_description": {"type": "plain_text_input", "value": description or None}
        },
        "declare_channel": {"declare_channel": {"type": "checkboxes", "selected_options": []}},
    }


def titles(bot: BotProcess) -> list[str]:
    async def read() -> list[str]:
        store = stored(bot)
        try:
            return [i.title for i in await store.list_incidents(None, 500)]
        finally:
            await store.close()

    return asyncio.run(read())


def incident_titled(bot: BotProcess, marker: str, announced: bool = False) -> Incident:
    """The incident titled with ``marker`` (``announced``: once its conversation is set)."""

    async def find() -> Incident | None:
        store = stored(bot)
        try:
            found = [
                i
                for i in await store.list_incidents(None, 200)
                if marker in i.title and (i.conversation is not None or not announced)
            ]
            return found[0] if found else None
        finally:
            await store.close()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        incident = asyncio.run(find())
        if incident is not None:
            return incident
        time.sleep(0.2)
    raise AssertionError(f"no incident titled {marker}")


def announced(recorder: SlackRecorder, marker: str) -> Call:
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: marker in c.args.get("text", "") and "declared" in c.args["text"],
        timeout=20,
    )[0]


def card_for(recorder: SlackRecorder, marker: str) -> Call:
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: "blocks" in c.args and marker in json.dumps(c.args),
        timeout=20,
    )[0]


def test_declare_without_a_title_opens_the_form_and_its_submission_declares_and_triages(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    restart = ("restart_deployment", {"deployment": "checkout-api"})
    recorder.triages["FORM-TRIAGED"] = scripted_triage("checkout", [restart])
    seen = forms_opened(recorder)

    answer = bot.command("declare", hook="form")
    assert answer.status == 200 and answer.body.decode() == ""
    opened = opened_form(recorder, seen)
    assert opened.args["trigger_id"] == "1337.42.abcd"
    view = view_of(opened)
    metadata = view["private_metadata"]
    assert json.loads(metadata) == {"channel": ROOM}
    services = [o["value"] for o in element(view, "declare_service")["options"]]
    assert {"checkout", "payment-gateway", "auth-service"} <= set(services)
    assert element(view, "declare_severity")["initial_option"]["value"] == "SEV2"

    # Refused in the ack, under the field at fault; nothing is declared.
    refused = bot.view_submission(FORM, metadata, values("   ", "SEV1"), DECLARER)
    assert refused.status == 200
    assert refused.json()["response_action"] == "errors"
    assert set(refused.json()["errors"]) == {"declare_title"}
    bad_service = bot.view_submission(
        FORM, metadata, values("FORM-NOPE x", "SEV1", "billing"), DECLARER
    )
    assert set(bad_service.json()["errors"]) == {"declare_service"}

    description = "FORM-TRIAGED: checkout pods crash-loop after the 02:00 deploy"
    ok = bot.view_submission(
        FORM, metadata, values("FORM-ONE checkout down", "SEV1", "checkout", description), DECLARER
    )
    assert ok.status == 200 and ok.body in (b"", b"{}")
    announcement = announced(recorder, "FORM-ONE")
    assert announcement.args["channel"] == ROOM and "*SEV1*" in announcement.args["text"]
    # The triage card follows in the announcement's thread, from what the declarer wrote.
    card = card_for(recorder, "FORM-ONE")
    assert card.args["channel"] == ROOM
    assert card.args.get("thread_ts") == announcement.answer["ts"]
    assert recorder.find("llm", lambda c: "crash-loop after the 02:00 deploy" in c.args["prompt"])
    incident = incident_titled(bot, "FORM-ONE")
    assert incident.commander == DECLARER and incident.service == "checkout"
    assert incident.severity is Severity.SEV1  # the scripted triage said SEV2: not lowered
    assert not [t for t in titles(bot) if "FORM-NOPE" in t]  # the refused one


def test_declare_with_options_but_no_title_fills_the_form(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    seen = forms_opened(recorder)
    assert bot.command("declare sev0 --service payment-gateway --channel").status == 200
    view = view_of(opened_form(recorder, seen))
    assert element(view, "declare_severity")["initial_option"]["value"] == "SEV0"
    assert element(view, "declare_service")["initial_option"]["value"] == "payment-gateway"
    assert element(view, "declare_channel")["initial_options"][0]["value"] == "new_channel"
    # A bad severity is still refused in the ack, with the usage.
    assert "SEV9 is not a severity" in ack_text(bot, "declare payments down SEV9")


def test_the_global_shortcut_opens_the_form_and_announces_in_the_incident_channel(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    seen = forms_opened(recorder)
    answer = shortcut(bot, "declare_incident", "U0SHORTCUT")
    assert answer.status == 200
    opened = opened_form(recorder, seen)
    assert opened.args["trigger_id"] == "1337.45.abcd"
    metadata = view_of(opened)["private_metadata"]
    assert json.loads(metadata) == {"channel": ""}

    submitted = values("SHORTCUT-ONE search is slow", "SEV3", "search-api")
    assert bot.view_submission(FORM, metadata, submitted, "U0SHORTCUT").status == 200
    announcement = announced(recorder, "SHORTCUT-ONE")
    assert announcement.args["channel"] == INCIDENT_CHANNEL
    assert "<@U0SHORTCUT>" in announcement.args["text"]
    # The declarer, who ran it from nowhere, is told where it went (only they see it).
    told = recorder.wait_for(
        "chat.postEphemeral", lambda c: c.args.get("user") == "U0SHORTCUT", timeout=20
    )[0]
    assert told.args["channel"] == INCIDENT_CHANNEL and "Declared" in told.args["text"]
    assert incident_titled(bot, "SHORTCUT-ONE").service == "search-api"


def test_declare_with_arguments_is_triaged_in_its_thread(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    incident_id = declare(bot, recorder, "declare ARGS-TRIAGED checkout is down SEV1", "args")
    announcement = announced(recorder, "ARGS-TRIAGED")
    card = card_for(recorder, incident_id)
    assert card.args.get("thread_ts") == announcement.answer["ts"]
    kinds = [e.kind.value for e in events_of(bot, incident_id)]
    assert kinds[0] == "incident.declared" and "triage.completed" in kinds


def test_severity_changes_the_incident_here_or_named_and_refuses_what_is_no_severity(
    bot: BotProcess, recorder: SlackRecorder
) -> None:
    for text, shown in (("SEV9", "SEV9"), ("sev-1", "SEV-1"), ("high", "HIGH")):
        answer = ack_text(bot, f"severity {text} worse")
        assert f"{shown} is not a severity (SEV0–SEV3)" in answer
        assert "severity [incident-id]" in answer
    assert "needs the new severity" in ack_text(bot, "severity")

    room = "C0SEVROOM01"
    assert bot.command("declare SEV-ROOM payments failing", channel=room, hook="sev-d").status
    incident = incident_titled(bot, "SEV-ROOM", announced=True)
    assert incident.severity is Severity.SEV2

    bot.command("severity SEV0 EU checkout fails too", channel=room, hook="sev-here")
    changed = responded(recorder, "sev-here", "changed the severity")
    assert changed.args["response_type"] == "in_channel"
    assert "from *SEV2* to *SEV0*: EU checkout fails too" in changed.args["text"]

    bot.command(f"severity {incident.reference} SEV0", hook="sev-same")
    responded(recorder, "sev-same", "already *SEV0*")

    bot.command(f"severity {incident.id} sev1 contained to EU", hook="sev-named")
    responded(recorder, "sev-named", "from *SEV0* to *SEV1*")
    events = [e for e in events_of(bot, incident.id) if e.kind.value == "incident.severity_changed"]
    assert [e.message for e in events] == [
        "SEV2 -> SEV0: EU checkout fails too",
        "SEV0 -> SEV1: contained to EU",
    ]

    bot.command(f"resolve {incident.id} fixed", channel=room, hook="sev-resolve")
    responded(recorder, "sev-resolve", "resolved")
    bot.command(f"severity {incident.id} SEV3", hook="sev-closed")
    responded(recorder, "sev-closed", "already resolved")
    bot.command("severity inc-ffffffffff SEV1", hook="sev-missing")
    responded(recorder, "sev-missing", "No incident `inc-ffffffffff`")
