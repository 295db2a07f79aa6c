"""Parsing `/incident` text: subcommands, options, severities and usage errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Category, Incident, Severity
from bot.slack.arguments import UsageError, channel_name, guess_service, parse, severity_at


def test_free_text_is_read_as_written_not_as_shell_syntax() -> None:
    """Apostrophes and quotes are text; Slack's escaping and control sequences become plain."""
    assert parse("note we can't restart until 02:30").rest == "we can't restart until 02:30"
    got = parse(
        "update it&apos;s &lt;fine&gt; &amp; <!channel> <@U0BOB01|bob> <#C0OPS|ops> "
        "<https://dash.example/d?a=1&amp;b=2|dash>"
    )
    assert got.rest == (
        "it's <fine> & @channel @bob #ops dash (https://dash.example/d?a=1&b=2)"
    )
    assert parse('declare "Checkout is down" SEV1').rest == "Checkout is down"


def test_declare_reads_title_severity_and_options() -> None:
    got = parse('declare "Checkout is down" for EU sev1 --channel --service checkout')
    assert got.subcommand == "declare"
    assert got.rest == "Checkout is down for EU"
    assert got.severity is Severity.SEV1
    assert got.new_channel and got.service == "checkout"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("triage", "needs a description"),
        ("resolve", "needs an incident id"),
        ("postmortem", "needs an incident id"),
        ("timeline a b", "takes one incident id"),
        ("list now", "takes no arguments"),
        ("declare x --service", "needs a service name"),
        ("declare payments down SEV9", r"^SEV9 is not a severity \(SEV0–SEV3\)\.$"),
        ("declare payments down sev-1", "SEV-1 is not a severity"),
        ("severity", r"^`severity` needs the new severity \(SEV0–SEV3\)\.$"),
        ("severity INC-4", "needs the new severity"),
        ("severity SEV9", r"^SEV9 is not a severity \(SEV0–SEV3\)\.$"),
        ("severity sev-1 worse", "SEV-1 is not a severity"),
        ("severity high", "HIGH is not a severity"),
        ("severity INC-4 high", "HIGH is not a severity"),
        ("severity inc-0123456789 SEV5 typo", "SEV5 is not a severity"),
    ],
)
def test_bad_arguments_raise_usage_errors(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse(text)


def test_declare_without_a_title_is_the_form_with_what_was_typed() -> None:
    bare = parse("declare")
    assert bare.subcommand == "declare" and bare.args == [] and bare.severity is None
    typed = parse("declare sev1 --channel --service checkout")
    assert typed.args == [] and typed.severity is Severity.SEV1
    assert typed.new_channel and typed.service == "checkout"


@pytest.mark.parametrize(
    ("text", "severity", "at", "args"),
    [
        ("severity SEV1", Severity.SEV1, 0, ["SEV1"]),
        ("severity sev0 EU is down too", Severity.SEV0, 0, ["sev0", "EU", "is", "down", "too"]),
        (
            "severity INC-42 SEV3 false alarm",
            Severity.SEV3,
            1,
            ["INC-42", "SEV3", "false", "alarm"],
        ),
        ("severity inc-0123456789 Sev2", Severity.SEV2, 1, ["inc-0123456789", "Sev2"]),
        # An id after the severity is the reason's, not the incident to change.
        ("severity SEV1 INC-7 is related", Severity.SEV1, 0, ["SEV1", "INC-7", "is", "related"]),
    ],
)
def test_severity_reads_an_optional_id_the_severity_and_a_reason(
    text: str, severity: Severity, at: int, args: list[str]
) -> None:
    got = parse(text)
    assert got.subcommand == "severity" and got.severity is severity
    assert got.args == args and severity_at(got.args) == at


def test_empty_text_is_help_and_unknown_words_pass_through() -> None:
    assert parse("").subcommand == "help"
    assert parse("  ").subcommand == "help"
    assert parse("frobnicate x").subcommand == "frobnicate"
    assert parse("resolve inc-0123456789 rolled back").args == ["inc-0123456789", "rolled", "back"]


def test_guess_service_matches_whole_known_names_only() -> None:
    known = ["checkout", "cart-service", "auth-service"]
    assert guess_service("cart-service pods are crashing", known) == "cart-service"
    assert guess_service("Checkout 500s", known) == "checkout"
    assert guess_service("checkouts are slow", known) == "unknown"
    assert guess_service("nothing here", known) == "unknown"


def test_channel_names_are_slack_safe() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    incident = Incident(
        title="Payments: ALL declines?! " * 10, service="x", created_at=now, updated_at=now
    )
    name = channel_name(incident)
    assert name.startswith(incident.id + "-payments-all-declines")
    assert len(name) <= 80 and name == name.lower() and " " not in name
    assert not name.endswith("-")
    numbered = incident.model_copy(update={"number": 42, "title": "Checkout is down!"})
    assert channel_name(numbered) == "inc-42-checkout-is-down"


def test_recategorize_reads_id_category_severity_and_reason() -> None:
    got = parse("recategorize INC-7 Security sev1 leaked key in the logs")
    assert got.subcommand == "recategorize"
    assert got.args == ["INC-7", "leaked", "key", "in", "the", "logs"]
    assert got.category is Category.SECURITY and got.severity is Severity.SEV1
    plain = parse("recategorize inc-00000000aa latency")
    assert plain.category is Category.LATENCY and plain.severity is None
    assert plain.args == ["inc-00000000aa"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("recategorize", "needs an incident id and a category"),
        ("recategorize INC-7", "needs an incident id and a category"),
        ("recategorize INC-7 weather", r"^weather is not a category \(latency, "),
        ("recategorize INC-7 security SEV9", r"^SEV9 is not a severity"),
    ],
)
def test_recategorize_refuses_what_it_cannot_read(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse(text)
