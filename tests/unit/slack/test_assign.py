"""`/incident assign [id] @user [role]`: Slack's escaped mentions, roles, usage errors; the
card's line naming who holds each role."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Incident, Role, Triage
from bot.redaction import Redactor
from bot.slack import messages
from bot.slack.arguments import UsageError, parse
from bot.slack.blocks import make_clean, roles_line, triage_card


@pytest.mark.parametrize(
    ("text", "args", "assignee", "role"),
    [
        ("assign <@U0ABC123|alice>", [], "U0ABC123", Role.COMMANDER),
        ("assign <@U0ABC123>", [], "U0ABC123", Role.COMMANDER),
        ("assign INC-42 <@U0ABC123> scribe", ["INC-42"], "U0ABC123", Role.SCRIBE),
        ("assign inc-0a1b2c3d4e <@W0ABC123|bob> COMMS", ["inc-0a1b2c3d4e"], "W0ABC123", Role.COMMS),
        # The role may come first (as the manifest's hint writes it).
        ("assign INC-7 comms <@U0ABC123|carol>", ["INC-7"], "U0ABC123", Role.COMMS),
        # A name with spaces or a quote does not break the split: only the id is kept.
        ("assign <@U0ABC123|Mary Ann O'Brien> scribe", [], "U0ABC123", Role.SCRIBE),
    ],
)
def test_assign_reads_the_mention_the_role_and_the_incident(
    text: str, args: list[str], assignee: str, role: Role
) -> None:
    got = parse(text)
    assert got.subcommand == "assign"
    assert (got.args, got.assignee, got.role) == (args, assignee, role)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("assign", "needs the person"),
        ("assign INC-4", "needs the person"),
        ("assign scribe", "needs the person"),
        # Typed by hand, not picked: Slack sends no id.
        ("assign @alice", "is not a person"),
        ("assign <!here>", "is not a person"),
        ("assign <!subteam^S0GROUP1|oncall>", "is not a person"),
        ("assign <#C0CHANNEL|general>", "is not a person"),
        ("assign <@U0abc>", "is not a person"),
        ("assign <@U0ABC123> boss", "boss is not a role (commander, scribe, comms)"),
        ("assign <@U0ABC123> <@U0DEF456>", "takes one @mention"),
        ("assign <@U0ABC123> scribe comms", "takes one @mention and at most one role"),
    ],
)
def test_assign_refuses_what_is_no_person_or_role(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_status_names_who_holds_each_role() -> None:
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    incident = Incident(title="checkout 5xx", service="checkout", created_at=now, updated_at=now)
    assert "Commander" not in messages.incident_status(incident, [])
    incident.commander = "U0LEAD0001"
    incident.roles = {Role.SCRIBE: "U0SCRIBE01"}
    shown = messages.incident_status(incident, [])
    assert "Commander: <@U0LEAD0001> · Scribe: <@U0SCRIBE01>" in shown


def test_the_card_names_who_holds_each_role() -> None:
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    incident = Incident(title="checkout 5xx", service="checkout", created_at=now, updated_at=now)
    assert roles_line(incident) == []
    incident.commander = "U0LEAD0001"
    incident.roles = {Role.COMMS: "W0COMMS001"}
    [line] = roles_line(incident)
    assert line["elements"][0]["text"] == "Commander <@U0LEAD0001> · Comms <@W0COMMS001>"
    triage = Triage(incident_id=incident.id, created_at=now)
    card = triage_card(incident, triage, [], [], make_clean(Redactor().redact))
    assert card[2] == line  # right under the first line: when, how long, how many
