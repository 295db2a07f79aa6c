"""The declare form: a submission read back into a declaration, or refusals per field (the
modal itself against Slack's limits: tests/integration/slack/test_declare_modal_rules.py)."""

from __future__ import annotations

import json
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
from bot.slack.declare import NEW_CHANNEL, read_form, submitted_channel

SERVICES = ["checkout", "payment-gateway", "auth-service"]


def submitted(
    title: str = "Checkout is down",
    service: str | None = None,
    severity: str | None = "SEV1",
    description: str | None = None,
    new_channel: bool = False,
    channel: str = "C0WARROOM1",
) -> dict[str, Any]:
    """A view_submission's view as Slack sends it (``state.values[block][action]``)."""

    def chosen(value: str | None) -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": value}, "value": value}
        return {"type": "static_select", "selected_option": option if value else None}

    boxes = [{"text": {"type": "plain_text", "text": "x"}, "value": NEW_CHANNEL}]
    values = {
        DECLARE_TITLE: {DECLARE_TITLE: {"type": "plain_text_input", "value": title}},
        DECLARE_SERVICE: {DECLARE_SERVICE: chosen(service)},
        DECLARE_SEVERITY: {DECLARE_SEVERITY: chosen(severity)},
        DECLARE_DESCRIPTION: {
            DECLARE_DESCRIPTION: {"type": "plain_text_input", "value": description}
        },
        DECLARE_CHANNEL: {
            DECLARE_CHANNEL: {
                "type": "checkboxes",
                "selected_options": boxes if new_channel else [],
            }
        },
    }
    return {
        "type": "modal",
        "callback_id": DECLARE_VIEW,
        "private_metadata": json.dumps({"channel": channel}),
        "state": {"values": values},
    }


def test_a_submission_reads_back_as_a_declaration() -> None:
    got, refused = read_form(
        submitted(
            title="  Checkout   is down ",
            service="checkout",
            description=" 5xx for everyone \n since 02:10 ",
            new_channel=True,
        ),
        SERVICES,
        default_channel=False,
    )
    assert refused == {}
    assert got is not None
    assert got.title == "Checkout is down" and got.service == "checkout"
    assert got.severity is Severity.SEV1 and got.new_channel and got.channel == "C0WARROOM1"
    assert got.description == "5xx for everyone \n since 02:10"


def test_no_service_chosen_is_guessed_from_the_title_and_description() -> None:
    got, _ = read_form(
        submitted(title="Cannot pay", description="payment-gateway times out"), SERVICES, True
    )
    assert got is not None and got.service == "payment-gateway"
    nothing, _ = read_form(submitted(title="Something odd"), SERVICES, True)
    assert nothing is not None and nothing.service == "unknown"


@pytest.mark.parametrize(
    ("form", "field", "why"),
    [
        (submitted(title="   "), DECLARE_TITLE, "title"),
        (submitted(title="x" * 201), DECLARE_TITLE, "200 characters"),
        (submitted(service="billing"), DECLARE_SERVICE, "service"),
        (submitted(severity="SEV9"), DECLARE_SEVERITY, "SEV0–SEV3"),
        (submitted(severity=None), DECLARE_SEVERITY, "SEV0–SEV3"),
        (submitted(channel=""), DECLARE_CHANNEL, "new one"),
    ],
)
def test_a_bad_submission_is_refused_under_the_field_at_fault(
    form: dict[str, Any], field: str, why: str
) -> None:
    got, refused = read_form(form, SERVICES, default_channel=False)
    assert got is None
    assert list(refused) == [field]
    assert why in refused[field]


def test_from_the_shortcut_a_configured_incident_channel_or_a_new_channel_will_do() -> None:
    form = submitted(channel="")
    assert read_form(form, SERVICES, default_channel=True)[0] is not None
    got, _ = read_form(submitted(channel="", new_channel=True), SERVICES, default_channel=False)
    assert got is not None and got.channel == "" and got.new_channel
    # A private_metadata that is not ours reads as no channel.
    form["private_metadata"] = "not json"
    assert submitted_channel(form) == ""
