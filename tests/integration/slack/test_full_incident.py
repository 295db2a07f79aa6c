"""One incident from the first alert to the review, through the running server and the Slack
stand-in: Alertmanager webhooks open and grow it, a signed Acknowledge click takes it, a signed
`/incident update` tells people, two approvers approve a restart on a critical service (dry
run), Alertmanager resolves it, and `/incident postmortem` uploads the review.

Also: a bot repeating an alert in an alert channel is answered in the incident's thread, and the
stand-in refuses Web API methods it does not implement, as Slack does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import ActionState
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import (
    ALERT_CHANNEL,
    INCIDENT_CHANNEL,
    BotProcess,
    bot_env,
    http,
)
from tests.integration.slack.recorder import Call, SlackRecorder
from tests.integration.slack.test_approvals import request_of, vote_buttons, vote_value

pytestmark = pytest.mark.integration

BROADCAST = "C0E2EBCAST"
WAR_ROOM = "C0E2EROOM1"
MARKER = "E2EFullAuth"
GROUP_KEY = '{}:{alertname="E2EFullAuthErrors", service="auth-service"}'
APPROVE = "request_approve"
ACKNOWLEDGE = "incident_acknowledge"
# Names users.info gives the people who take part (the review shows them, not ids).
PEOPLE = {
    "U0IDSRE001": "Ivy Sre",
    "U0IDLEAD01": "Leo Lead",
    "U0IDSRE002": "Sam Second",
}
WAIT = 30.0


@pytest.fixture(scope="module")
def e2e_bot(
    recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    workdir: Path = tmp_path_factory.mktemp("full-incident")
    env = bot_env(workdir, recorder.url, BROADCAST_CHANNEL=BROADCAST)
    process = BotProcess(workdir, env).start()
    yield process
    process.stop()


def alertmanager(
    pods: list[str], status: str = "firing", group_key: str = GROUP_KEY, marker: str = MARKER
) -> dict[str, Any]:
    """Alertmanager's webhook (version 4): the whole group, one alert per pod, as it resends."""
    alerts = []
    for n, pod in enumerate(pods):
        labels = {
            "alertname": f"{marker}Errors",
            "service": "auth-service",
            "namespace": "identity",
            "severity": "critical",
            "pod": pod,
            "deployment": "auth-api",
        }
        alerts.append(
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": f"auth-service 5xx ratio is {12 + n}% on {pod}",
                    "description": "Logins fail with HTTP 503 since the last deploy.",
                },
                "startsAt": f"2026-11-24T02:0{n}:11.512Z",
                "endsAt": "2026-11-24T03:10:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.example.com:9090/graph?g0.expr=errors&pod={pod}",
                "fingerprint": f"e2e{marker.lower()[:6]}{n:04d}",
            }
        )
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": {"alertname": f"{marker}Errors", "service": "auth-service"},
        "commonLabels": {"alertname": f"{marker}Errors", "service": "auth-service"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": alerts,
    }


def blocks_of(call: Call) -> list[dict[str, Any]]:
    raw = call.args.get("blocks") or []
    blocks: list[dict[str, Any]] = json.loads(raw) if isinstance(raw, str) else raw
    return blocks


def block(call: Call, block_id: str) -> dict[str, Any]:
    return next(b for b in blocks_of(call) if b.get("block_id") == block_id)


def text_of(call: Call) -> str:
    return json.dumps(call.args.get("blocks", [])) + call.args.get("text", "")


def card_update(recorder: SlackRecorder, ts: str, check: Callable[[str], bool]) -> Call:
    """The latest chat.update of the card ``ts`` whose blocks and text pass ``check``."""
    found = recorder.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == ts and check(text_of(c)),
        timeout=WAIT,
    )
    return found[-1]


def in_thread(recorder: SlackRecorder, ts: str, text: str, channel: str = INCIDENT_CHANNEL) -> Call:
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: (
            c.args.get("channel") == channel
            and c.args.get("thread_ts") == ts
            and text in c.args.get("text", "")
        ),
        timeout=WAIT,
    )[0]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not in {WAIT}s: {what}")


def test_an_incident_from_alert_to_review(e2e_bot: BotProcess, recorder: SlackRecorder) -> None:
    bot = e2e_bot
    recorder.people.update(PEOPLE)
    restart = ("restart_deployment", {"deployment": "auth-api"})
    recorder.triages[MARKER] = scripted_triage("auth-service", [restart])

    # 1. Alertmanager opens the incident; the card lands in the incident channel.
    assert bot.alert("alertmanager", alertmanager(["auth-api-7f9c-a"])).status == 202
    card = recorder.wait_for(
        "chat.postMessage",
        lambda c: (
            c.args.get("channel") == INCIDENT_CHANNEL
            and MARKER in json.dumps(c.args)
            and bool(c.args.get("blocks"))
        ),
        timeout=WAIT,
    )[0]
    ts = card.answer["ts"]
    header = blocks_of(card)[0]
    assert header["type"] == "header"
    title = f"{MARKER}Errors: auth-service 5xx ratio is 12% on auth-api-7f9c-a"
    assert re.fullmatch(rf"SEV[0-3] · auth-service · {re.escape(title)}", header["text"]["text"])
    first = block(card, "first")["text"]["text"]
    assert first.startswith("Started *02:00 UTC* (Nov 24) · ")
    assert " ago · *1 alert* · " in first
    assert "|Alertmanager>" in first and "http://prometheus.example.com:9090/graph" in first
    buttons = [e for b in blocks_of(card) if b["type"] == "actions" for e in b["elements"]]
    ack = next(e for e in buttons if e["action_id"] == ACKNOWLEDGE)
    incident_id = ack["value"]
    request_id = next(iter(vote_buttons(card)))

    # 2. Alertmanager resends the group with a second alert: the card counts it, and one short
    # line goes in the card's thread; a third right after refreshes the count but says nothing.
    pods = ["auth-api-7f9c-a", "auth-api-7f9c-b"]
    assert bot.alert("alertmanager", alertmanager(pods)).status == 202
    card_update(recorder, ts, lambda t: "*2 alerts*" in t)
    line = in_thread(recorder, ts, "Another alert")
    assert f"`{incident_id}`" in line.args["text"] and "(2 alert(s) so far)" in line.args["text"]
    pods.append("auth-api-7f9c-c")
    assert bot.alert("alertmanager", alertmanager(pods)).status == 202
    card_update(recorder, ts, lambda t: "*3 alerts*" in t)
    lines = recorder.find(
        "chat.postMessage",
        lambda c: "Another alert" in c.args.get("text", "") and incident_id in c.args["text"],
    )
    assert [c.args.get("thread_ts") for c in lines] == [ts]

    # 3. Acknowledge on the card (a signed block_actions); the button leaves the card.
    answer = bot.click(
        ACKNOWLEDGE, incident_id, "U0IDSRE002", message_ts=ts, block_id=f"ack:{incident_id}"
    )
    assert answer.status == 200
    recorder.wait_for(
        "chat.postEphemeral",
        lambda c: c.args.get("user") == "U0IDSRE002" and "acknowledged" in c.args.get("text", ""),
        timeout=WAIT,
    )
    card_update(recorder, ts, lambda t: ACKNOWLEDGE not in t)

    # 4. A status update (signed slash command): in the card's thread and the broadcast channel.
    update = "Restarting auth-api pods; logins degraded"
    answer = bot.command(f"update {incident_id} {update}", user="U0IDSRE002", channel=WAR_ROOM)
    assert answer.status == 200
    posted = recorder.wait_for(
        "chat.postMessage", lambda c: update in c.args.get("text", ""), count=2, timeout=WAIT
    )
    where = {(c.args["channel"], c.args.get("thread_ts")) for c in posted}
    assert where == {(INCIDENT_CHANNEL, ts), (BROADCAST, None)}

    # 5. Approve: a stranger is refused in the card's thread; auth-service is critical, so two
    # approvers; then it runs (dry run) and the card keeps who approved and that it ran.
    value = vote_value(card, request_id)
    bot.click(APPROVE, value, "U0RANDOM01", message_ts=ts)
    refused = recorder.wait_for(
        "chat.postEphemeral",
        lambda c: (
            c.args.get("user") == "U0RANDOM01" and "not an approver" in c.args.get("text", "")
        ),
        timeout=WAIT,
    )[0]
    assert refused.args.get("thread_ts") == ts and refused.args["channel"] == INCIDENT_CHANNEL
    bot.click(APPROVE, value, "U0IDSRE001", message_ts=ts)
    card_update(recorder, ts, lambda t: "1 so far" in t)
    assert request_of(bot, request_id).state is ActionState.PENDING_APPROVAL
    bot.click(APPROVE, value, "U0IDLEAD01", message_ts=ts)
    eventually(
        lambda: request_of(bot, request_id).state is ActionState.SUCCEEDED, "the restart ran"
    )
    request = request_of(bot, request_id)
    assert request.approvers == ["U0IDSRE001", "U0IDLEAD01"]
    assert request.result is not None and request.result.get("dry_run") is True
    ran = card_update(recorder, ts, lambda t: "Succeeded" in t)
    proposal = block(ran, f"proposal:{request_id}")["text"]["text"]
    assert "Approved by <@U0IDSRE001>, <@U0IDLEAD01>" in proposal
    assert "Ran by incident-bot" in proposal and "after approval" in proposal
    assert vote_buttons(ran) == {}

    # 6. Alertmanager resolves every alert of the group: the incident is resolved, said in the
    # thread, and the card (still naming the approvers) shows it.
    assert bot.alert("alertmanager", alertmanager(pods, status="resolved")).status == 202
    in_thread(recorder, ts, "Resolved by alertmanager")
    closed = card_update(recorder, ts, lambda t: "*resolved*" in t)
    assert "Approved by <@U0IDSRE001>, <@U0IDLEAD01>" in text_of(closed)

    # 7. The review, uploaded as a markdown file with display names.
    answer = bot.command(f"postmortem {incident_id}", user="U0IDLEAD01", channel=WAR_ROOM)
    assert answer.status == 200
    done = recorder.wait_for(
        "files.completeUploadExternal", lambda c: c.args.get("channel_id") == WAR_ROOM, timeout=WAIT
    )[0]
    assert recorder.find("files.getUploadURLExternal", lambda c: incident_id in json.dumps(c.args))
    file_id = json.loads(done.args["files"])[0]["id"]
    upload = recorder.uploads[file_id]
    assert upload.filename == f"postmortem-{incident_id}.md" and upload.shared
    review = upload.content.decode()
    for heading in ("## Summary", "## Impact", "## Key times", "## Timeline", "## Follow-ups"):
        assert heading in review
    assert f"Post-incident review: {MARKER}Errors" in review
    assert "(resolved)" in review and "**Services**: auth-service" in review
    times = review.split("## Key times", 1)[1].split("## Timeline", 1)[0]
    acked = next(row for row in times.splitlines() if row.startswith("| Acknowledged"))
    assert "acknowledged" in acked and "derived" not in acked
    mitigated = next(row for row in times.splitlines() if row.startswith("| Mitigated"))
    assert "first state-changing action that succeeded" in mitigated
    assert re.search(r"\*\*Time to acknowledge\*\*: \d+h \d\dm", times)
    assert re.search(r"\*\*Time to mitigate\*\*: \d+h \d\dm", times)
    timeline = review.split("## Timeline", 1)[1]
    assert update in timeline and "**Sam Second**" in timeline
    assert "Ivy Sre" in review and "Leo Lead" in review
    assert "U0IDSRE001" not in review and "U0IDLEAD01" not in review
    asked = {c.args.get("user") for c in recorder.find("users.info")}
    assert {"U0IDSRE001", "U0IDLEAD01", "U0IDSRE002"} <= asked
    recorder.wait_for(
        "response_url", lambda c: f"postmortem-{incident_id}.md" in json.dumps(c.args)
    )


def test_a_repeat_in_the_alert_channel_is_answered_in_the_incidents_thread(
    e2e_bot: BotProcess, recorder: SlackRecorder
) -> None:
    recorder.triages["E2E-REPEAT"] = scripted_triage("checkout", [])

    def grafana(ts: str) -> dict[str, Any]:
        return {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0GRAFANA1",
            "username": "Grafana",
            "channel": ALERT_CHANNEL,
            "ts": ts,
            "text": "",
            "attachments": [
                {
                    "title": "[FIRING:1] E2E-REPEAT checkout 5xx error rate",
                    "text": "5xx ratio 12% on checkout-api",
                    "fields": [{"title": "service", "value": "checkout", "short": True}],
                }
            ],
        }

    first_ts, repeat_ts = "1790005000.000100", "1790005060.000100"
    assert e2e_bot.event(grafana(first_ts)).status == 200
    card = recorder.wait_for(
        "chat.postMessage",
        lambda c: "E2E-REPEAT" in json.dumps(c.args) and bool(c.args.get("blocks")),
        timeout=WAIT,
    )[0]
    assert (card.args["channel"], card.args.get("thread_ts")) == (ALERT_CHANNEL, first_ts)
    # The same alert posted again (a new message): one line in the incident's thread, under
    # the first message, not under the repeat.
    assert e2e_bot.event(grafana(repeat_ts)).status == 200
    line = recorder.wait_for(
        "chat.postMessage",
        lambda c: "Another alert" in c.args.get("text", "") and "E2E-REPEAT" in c.args["text"],
        timeout=WAIT,
    )[0]
    assert (line.args["channel"], line.args.get("thread_ts")) == (ALERT_CHANNEL, first_ts)
    assert not recorder.find("chat.postMessage", lambda c: c.args.get("thread_ts") == repeat_ts)


def test_the_stand_in_refuses_a_method_it_does_not_implement(recorder: SlackRecorder) -> None:
    body = json.dumps({"channel": INCIDENT_CHANNEL, "ts": "1.000001"}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer xoxb-test-token"}
    answer = http(f"{recorder.api_url}chat.unfurl", body, headers)
    assert answer.status == 200 and answer.json() == {"ok": False, "error": "unknown_method"}
    assert recorder.find("chat.unfurl")[-1].rejected == "unknown_method"
    known = http(f"{recorder.api_url}auth.test", b"{}", headers)
    assert known.json()["ok"] is True
