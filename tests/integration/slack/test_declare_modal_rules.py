"""The declare form as Slack's Web API would take it: the modal built by bot/slack/declare.py
checked against the stand-in's modal rules (slack_rules.modal_problem), and those rules
refusing a modal past each documented limit."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.models import Severity
from bot.slack.action_ids import (
    DECLARE_CHANNEL,
    DECLARE_DESCRIPTION,
    DECLARE_SERVICE,
    DECLARE_SEVERITY,
    DECLARE_TITLE,
    DECLARE_VIEW,
)
from bot.slack.declare import NEW_CHANNEL, declare_modal, submitted_channel
from tests.integration.slack.slack_rules import modal_problem

pytestmark = pytest.mark.integration

SERVICES = ["checkout", "payment-gateway", "auth-service"]


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    [found] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return found


def test_the_form_is_a_modal_slack_accepts_with_what_the_command_typed() -> None:
    view = declare_modal(
        SERVICES,
        channel="C0WARROOM1",
        default_channel=True,
        severity=Severity.SEV1,
        service="checkout",
        new_channel=True,
    )
    assert modal_problem(view) is None
    assert view["callback_id"] == DECLARE_VIEW
    assert submitted_channel(view) == "C0WARROOM1"
    title = block(view, DECLARE_TITLE)
    assert title["element"]["max_length"] == 200 and "optional" not in title
    service = block(view, DECLARE_SERVICE)["element"]
    assert [o["value"] for o in service["options"]] == sorted(SERVICES)
    assert service["initial_option"]["value"] == "checkout"
    severity = block(view, DECLARE_SEVERITY)["element"]
    assert [o["value"] for o in severity["options"]] == ["SEV0", "SEV1", "SEV2", "SEV3"]
    assert severity["initial_option"]["value"] == "SEV1"
    assert block(view, DECLARE_DESCRIPTION)["element"]["multiline"] is True
    assert block(view, DECLARE_CHANNEL)["element"]["initial_options"][0]["value"] == NEW_CHANNEL


def test_the_form_defaults_to_sev2_and_without_any_channel_asks_for_a_new_one() -> None:
    view = declare_modal(SERVICES, channel="", default_channel=False)
    assert modal_problem(view) is None
    assert block(view, DECLARE_SEVERITY)["element"]["initial_option"]["value"] == "SEV2"
    assert "initial_option" not in block(view, DECLARE_SERVICE)["element"]
    assert block(view, DECLARE_CHANNEL)["element"]["initial_options"]
    assert (
        "initial_options"
        not in (
            block(declare_modal(SERVICES, channel="", default_channel=True), DECLARE_CHANNEL)[
                "element"
            ]
        )
    )
    assert submitted_channel(view) == ""


def test_a_catalogue_past_100_services_lists_the_first_100_and_says_so() -> None:
    many = [f"svc-{i:03d}" for i in range(150)] + ["x" * 80]
    view = declare_modal(many, channel="C1", default_channel=False)
    assert modal_problem(view) is None
    menu = block(view, DECLARE_SERVICE)
    assert len(menu["element"]["options"]) == 100
    assert "100" in menu["hint"]["text"]
    assert declare_modal([], channel="C1", default_channel=False)["blocks"][1]["block_id"] == (
        DECLARE_SEVERITY
    )


def broken(view: dict[str, Any], change: str) -> dict[str, Any]:
    view = copy.deepcopy(view)
    if change == "title":
        view["title"]["text"] = "x" * 25
    elif change == "title_mrkdwn":
        view["title"]["type"] = "mrkdwn"
    elif change == "submit":
        view["submit"]["text"] = "x" * 25
    elif change == "no_submit":
        del view["submit"]
    elif change == "close":
        view["close"]["text"] = "x" * 25
    elif change == "callback_id":
        view["callback_id"] = "x" * 256
    elif change == "private_metadata":
        view["private_metadata"] = "x" * 3001
    elif change == "blocks":
        view["blocks"] = view["blocks"] * 30
    elif change == "label":
        view["blocks"][0]["label"]["text"] = "x" * 2001
    elif change == "no_label":
        del view["blocks"][0]["label"]
    elif change == "no_element":
        del view["blocks"][0]["element"]
    elif change == "options":
        menu = view["blocks"][1]["element"]
        menu["options"] = [
            {"text": {"type": "plain_text", "text": f"s{i}"}, "value": f"s{i}"} for i in range(101)
        ]
    elif change == "option_text":
        view["blocks"][1]["element"]["options"][0]["text"]["text"] = "x" * 76
    elif change == "max_length":
        view["blocks"][0]["element"]["max_length"] = 3001
    return view


@pytest.mark.parametrize(
    "change",
    [
        "title",
        "title_mrkdwn",
        "submit",
        "no_submit",
        "close",
        "callback_id",
        "private_metadata",
        "blocks",
        "label",
        "no_label",
        "no_element",
        "options",
        "option_text",
        "max_length",
    ],
)
def test_the_stand_in_refuses_a_modal_past_slacks_limits(change: str) -> None:
    view = declare_modal(SERVICES, channel="C1", default_channel=True)
    assert modal_problem(view) is None
    assert modal_problem(broken(view, change)) == "invalid_arguments"
