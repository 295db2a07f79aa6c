"""Undo and break-glass through the running server and the Slack stand-in: a scale approved and
run (a real program, live), its Undo filing the inverse with the captured replicas; a freeze's
Break glass opening the modal, the signed submission filing the request again with one more
approval from the break-glass group, and the security channel told."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.models import ActionRequest
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import Call, SlackRecorder
from tests.integration.slack.test_approvals import (
    APPROVE,
    buttons,
    card_for,
    ephemeral_to,
    request_of,
    vote_value,
)
from tests.policies import unfrozen_policy_dir

pytestmark = pytest.mark.integration

SECURITY = "C0SECURITY1"
LEAD = "U0CHKLEAD1"  # approves for checkout (services.yaml)
CART_LEAD = "U0CARTDEV1"  # approves for cart-service
GLASS_MEMBER = "U0GLASS001"
ONCALL = "U0ONCALL01"
UNDO, BREAK_GLASS = "request_undo", "request_break_glass"


def policy_for_test(target: Path) -> Path:
    """Unfrozen shipped policies, then: scale_deployment live through ``echo`` (reading 3
    replicas first), and a break-glass freeze on cart-service around now."""
    unfrozen_policy_dir(target)
    actions_file = target / "actions.yaml"
    document: dict[str, Any] = yaml.safe_load(actions_file.read_text())
    scale = document["actions"]["scale_deployment"]
    scale["executor"] = {
        "type": "command",
        "mode": "live",
        "argv": ["echo", "scaled", "{deployment}", "{replicas}"],
    }
    scale["capture"][0]["read"] = {"type": "command", "argv": ["echo", '{"spec": {"replicas": 3}}']}
    actions_file.write_text(yaml.safe_dump(document, sort_keys=False))
    services_file = target / "services.yaml"
    services: dict[str, Any] = yaml.safe_load(services_file.read_text())
    now = datetime.now(UTC)
    services["services"]["cart-service"]["freeze"] = [
        {
            "id": "cart-migration",
            "reason": "Cart database migration",
            "break_glass": True,
            "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]
    services_file.write_text(yaml.safe_dump(services, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def glass_bot(
    recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    recorder.groups["S0BREAKGLASS"] = [GLASS_MEMBER]
    scale = ("scale_deployment", {"deployment": "checkout-api", "replicas": 6})
    cart = ("scale_deployment", {"deployment": "cart-api", "replicas": 8})
    recorder.triages["UNDO-SCALE"] = scripted_triage("checkout", [scale], category="latency")
    recorder.triages["GLASS-SCALE"] = scripted_triage("cart-service", [cart], category="latency")
    workdir: Path = tmp_path_factory.mktemp("glass")
    env = bot_env(
        workdir,
        recorder.url,
        POLICY_DIR=str(policy_for_test(workdir / "glass-policies")),
        SECURITY_CHANNEL=SECURITY,
    )
    process = BotProcess(workdir, env).start()
    yield process
    process.stop()


def element(call: Call, action_id: str) -> dict[str, Any]:
    found = [e for e in buttons(call) if e["action_id"] == action_id]
    assert len(found) == 1, [e["action_id"] for e in buttons(call)]
    return found[0]


def card_update_with(recorder: SlackRecorder, action_id: str, marker: str) -> Call:
    return recorder.wait_for(
        "chat.update",
        lambda c: (
            marker in json.dumps(c.args) and any(e["action_id"] == action_id for e in buttons(c))
        ),
        timeout=20,
    )[-1]


def test_undo_files_the_inverse_with_the_captured_replicas(
    glass_bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(glass_bot, recorder, "UNDO-SCALE", "checkout")
    value = next(e["value"] for e in buttons(card) if e["action_id"] == APPROVE)
    request_id = value.partition(":")[0]
    assert glass_bot.click(APPROVE, vote_value(card, request_id), LEAD).status == 200

    updated = card_update_with(recorder, UNDO, request_id)
    undo = element(updated, UNDO)
    assert undo["value"] == request_id and "confirm" in undo
    assert "previous_replicas=3" in json.dumps(updated.args)
    original = request_of(glass_bot, request_id)
    assert original.state.value == "succeeded"
    assert [(c.name, c.value) for c in original.captures] == [("previous_replicas", 3)]

    assert glass_bot.click(UNDO, request_id, ONCALL).status == 200
    ephemeral_to(recorder, ONCALL, "Undo filed")
    refreshed = recorder.wait_for(
        "chat.update", lambda c: "Undoes" in json.dumps(c.args), timeout=20
    )[-1]
    pending = {
        e["value"].partition(":")[0] for e in buttons(refreshed) if e["action_id"] == APPROVE
    }
    [inverse_id] = pending
    inverse = request_of(glass_bot, inverse_id)
    assert inverse.undo_of == request_id and inverse.requested_by == ONCALL
    assert inverse.proposal.params == {"deployment": "checkout-api", "replicas": 3}
    assert inverse.state.value == "pending_approval"

    # A second click files nothing new.
    assert glass_bot.click(UNDO, request_id, LEAD).status == 200
    ephemeral_to(recorder, LEAD, "already been filed")


def test_break_glass_opens_the_modal_and_needs_the_group(
    glass_bot: BotProcess, recorder: SlackRecorder
) -> None:
    card = card_for(glass_bot, recorder, "GLASS-SCALE", "cart-service")
    glass = element(card, BREAK_GLASS)
    blocked_id = glass["value"]
    assert request_of(glass_bot, blocked_id).state.value == "blocked"

    assert glass_bot.click(BREAK_GLASS, blocked_id, ONCALL).status == 200
    opened = recorder.wait_for("views.open", lambda c: c.ok, timeout=20)[-1]
    view = (
        opened.args["view"]
        if isinstance(opened.args["view"], dict)
        else json.loads(opened.args["view"])
    )
    assert opened.args["trigger_id"] == "1337.42.abcd"
    assert view["type"] == "modal" and view["callback_id"] == "break_glass"
    metadata = view["private_metadata"]
    assert blocked_id in metadata

    reason = "Cart checkout fails for everyone; scaling out cannot wait for the migration."
    values = {"justification": {"justification": {"type": "plain_text_input", "value": reason}}}
    answer = glass_bot.view_submission("break_glass", metadata, values, ONCALL)
    assert answer.status == 200, answer.body
    ephemeral_to(recorder, ONCALL, "Glass broken")

    told = recorder.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == SECURITY, timeout=20
    )[-1]
    assert "Break glass" in told.args["text"] and "scaling out cannot wait" in told.args["text"]
    refreshed = recorder.wait_for(
        "chat.update", lambda c: "scaling out cannot wait" in json.dumps(c.args), timeout=20
    )[-1]
    [glass_id] = {
        e["value"].partition(":")[0] for e in buttons(refreshed) if e["action_id"] == APPROVE
    }
    filed = request_of(glass_bot, glass_id)
    assert filed.break_glass is not None and filed.break_glass.by == ONCALL
    assert filed.decision.approvals_required == 2  # one usual (standard, medium) + one
    assert "S0BREAKGLASS" in filed.decision.eligible_approvers

    # The usual approver alone does not make it run; the break-glass group's member does.
    assert glass_bot.click(APPROVE, vote_value(refreshed, glass_id), CART_LEAD).status == 200
    counted = settled(glass_bot, glass_id, lambda r: CART_LEAD in r.approvers)
    assert counted.state.value == "pending_approval"
    assert glass_bot.click(APPROVE, vote_value(refreshed, glass_id), GLASS_MEMBER).status == 200
    ran = settled(
        glass_bot,
        glass_id,
        lambda r: r.state.value not in ("pending_approval", "approved", "executing"),
    )
    assert ran.state.value == "succeeded", ran.error

    metrics = glass_bot_metrics(glass_bot)
    assert 'incident_bot_break_glass_total{action="scale_deployment"} 1.0' in metrics


def settled(
    bot: BotProcess, request_id: str, done: Callable[[ActionRequest], bool]
) -> ActionRequest:
    """The stored request once ``done`` holds (a generous deadline, no timing asserted)."""
    deadline = time.monotonic() + 20
    while True:
        request = request_of(bot, request_id)
        if done(request) or time.monotonic() > deadline:
            return request
        time.sleep(0.05)


def glass_bot_metrics(bot: BotProcess) -> str:
    from tests.integration.slack.harness import http

    return http(f"{bot.url}/metrics", None, {}, "GET").body.decode()
