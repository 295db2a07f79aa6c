"""One escaping rule for Slack: every message kind, the card and its text, with hostile input."""

from __future__ import annotations

import html
import inspect
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.actions.votes import VoteStatus
from bot.models import (
    ActionRequest,
    ActionState,
    Alert,
    Approval,
    BreakGlass,
    Category,
    Correction,
    Decision,
    DecisionOutcome,
    Event,
    EventKind,
    Incident,
    Proposal,
    Role,
    RuleHit,
    RunbookRef,
    Severity,
    Triage,
    Verification,
    Vote,
)
from bot.postmortem import Escaping, PostmortemFacts, build_postmortem
from bot.redaction import Redactor
from bot.reports import render_card_text
from bot.slack import messages
from bot.slack.blocks import make_clean, section, triage_card, within_block_limit
from bot.slack.markup import (
    CUT,
    LIMITS,
    code,
    escape,
    fit,
    markdown,
    mention,
    mrkdwn,
    plain,
    size,
)

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
REDACTOR = Redactor()

TRICKS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0ABC>",
    "<#C0ABC>",
    "<!subteam^S0ABC>",
    "<https://evil.example|Click to approve>",
    "<mailto:x@evil.example|mail>",
    "&lt;!channel&gt;",
    "&amp;lt;@U0ABC&amp;gt;",
    "zero\u200bwidth\u2060joiner\ufeff",
    "\u202eevorppa\u202c",
    "\u2066isolate\u2069",
    "`code` ``` fence ```",
    "*bold* _italic_ ~strike~",
    "> quoted\n# heading\n[link](https://evil.example) ![img](https://evil.example/x.png)",
    "emoji 👩‍👩‍👧 e\u0301",
]
HOSTILE = " ".join(TRICKS)
HUGE = "Z" * 100_000 + HOSTILE
CASES = ["hostile", "huge"]
# Our own ids in the fixtures: the only mentions and links a message may contain.
OURS = {"user": "U0OURS0001", "group": "S0OURS0001", "channel": "C0OURS0001"}
# No message mentions the whole channel (``<!here>``, ``<!channel>``): people are named.
ALLOWED = re.compile(r"<@U0OURS0001>|<!subteam\^S0OURS0001>|<#C0OURS0001>")
HIDDEN = re.compile("[\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069]")


def value(case: str) -> str:
    return HUGE if case == "huge" else HOSTILE


def incident(text: str) -> Incident:
    return Incident(
        title=text,
        service=text,
        commander=OURS["user"],
        created_at=NOW,
        updated_at=NOW,
    )


def correction(text: str) -> Correction:
    return Correction(
        category=Category.SECURITY,
        severity=Severity.SEV1,
        from_category=Category.LATENCY,
        from_severity=Severity.SEV3,
        by=text,
        reason=text,
        at=NOW,
    )


def request(text: str, state: ActionState = ActionState.PENDING_APPROVAL) -> ActionRequest:
    return ActionRequest(
        incident_id="inc-0000000001",
        proposal=Proposal(
            action=text, service=text, params={"deployment": text, text[:50]: 1}, rationale=text
        ),
        decision=Decision(
            outcome=DecisionOutcome.REQUIRE_APPROVAL,
            action=text,
            service=text,
            approvals_required=2,
            eligible_approvers=[OURS["group"], OURS["user"], text],
            reasons=[RuleHit(rule_id=text, effect="deny", reason=text) for _ in range(12)],
        ),
        state=state,
        requested_by=text,
        approvals=[
            Approval(request_id="act-1", user_id=OURS["user"], vote=Vote.APPROVE, at=NOW),
            Approval(request_id="act-1", user_id=text, vote=Vote.DENY, at=NOW),
        ],
        error=text if state is ActionState.FAILED else None,
        created_at=NOW,
        updated_at=NOW,
    )


def event(text: str, n: int) -> Event:
    return Event(
        incident_id="inc-0000000001",
        at=NOW + timedelta(seconds=n),
        actor=text,
        kind=EventKind.INCIDENT_OPENED,
        message=text,
    )


def alert(text: str, labels: int = 10_000) -> Alert:
    return Alert(
        source="generic",
        fingerprint="f",
        group_key="g",
        service=text,
        title=text,
        description=text,
        labels={f"{text[:40]}{i}": text for i in range(labels)},
        received_at=NOW,
    )


def acked(text: str) -> Incident:
    taken = incident(text)
    taken.acknowledged_at = NOW
    taken.acknowledged_by = text
    taken.commander = text
    return taken


def triage(text: str) -> Triage:
    return Triage(
        incident_id="inc-0000000001",
        category=Category.ERROR_RATE,
        summary=text,
        root_cause=text,
        provider=text,
        model=text,
        runbooks=[RunbookRef(id=text, version=text)],
        created_at=NOW,
    )


# Every public function of bot.slack.messages, called with hostile values wherever it takes any.
MESSAGE_KINDS: dict[str, Callable[[str], str]] = {
    "mention": lambda t: messages.mention(t),
    "mentions": lambda t: messages.mentions([OURS["user"], t, OURS["group"]]),
    "usage": lambda t: messages.usage(),
    "unknown_subcommand": lambda t: messages.unknown_subcommand(t),
    # the problem is the parser's own text; what was typed is the subcommand
    "bad_arguments": lambda t: messages.bad_arguments(t, "`declare` needs a title."),
    "working": lambda t: messages.working(t),
    "incident_not_found": lambda t: messages.incident_not_found(t),
    "no_incident_here": lambda t: messages.no_incident_here(),
    "no_open_incidents": lambda t: messages.no_open_incidents(),
    "incident_line": lambda t: messages.incident_line(incident(t)),
    "incident_list": lambda t: messages.incident_list([incident(t) for _ in range(40)]),
    "incident_status": lambda t: messages.incident_status(
        incident(t), [request(t) for _ in range(30)]
    ),
    "request_line": lambda t: messages.request_line(request(t)),
    "timeline": lambda t: messages.timeline(incident(t), [event(t, n) for n in range(300)]),
    "declared": lambda t: messages.declared(incident(t), t),
    "declared_elsewhere": lambda t: messages.declared_elsewhere(incident(t), t),
    "channel_failed": lambda t: messages.channel_failed(t),
    "card_not_posted": lambda t: messages.card_not_posted(incident(t)),
    "not_in_channel": lambda t: messages.not_in_channel(t) + messages.channel_failed(
        "not_in_channel"
    ),
    "triage_started": lambda t: messages.triage_started(incident(t)),
    "triage_skipped": lambda t: messages.triage_skipped(incident(t)),
    "resolved": lambda t: messages.resolved(incident(t), t, t),
    "already_resolved": lambda t: messages.already_resolved(incident(t)),
    "acknowledged": lambda t: messages.acknowledged(acked(t)),
    "already_acknowledged": lambda t: messages.already_acknowledged(acked(t)),
    "role_assigned": lambda t: "\n".join(
        messages.role_assigned(incident(t), role, OURS["user"], t, previous)
        for role in Role
        for previous in (None, t, OURS["user"])
    ),
    "role_unchanged": lambda t: "\n".join(
        messages.role_unchanged(
            incident(t).model_copy(update={"roles": {Role.SCRIBE: t, Role.COMMS: OURS["user"]}}),
            role,
        )
        for role in Role
    ),
    "not_allowed_to_assign": lambda t: messages.not_allowed_to_assign(incident(t)),
    "roles_closed": lambda t: messages.roles_closed(incident(t)),
    "unknown_request": lambda t: messages.unknown_request(),
    "vote_refused": lambda t: messages.vote_refused(t),
    "request_note": lambda t: messages.request_note(request(t, ActionState.FAILED), t, t),
    "reminder": lambda t: messages.reminder(request(t)),
    "escalation": lambda t: (
        messages.escalation(request(t), [])
        + messages.escalation(request(t), [OURS["user"], OURS["group"], t])
    ),
    "feedback_thanks": lambda t: messages.feedback_thanks(True) + messages.feedback_thanks(False),
    "alert_joined": lambda t: messages.alert_joined(incident(t))
    + messages.alert_joined(incident(t), alert(t, labels=1)),
    "note": lambda t: messages.note(t),
    "known_error": lambda t: messages.known_error(t),
    "internal_error": lambda t: messages.internal_error(t),
    "postmortem_uploaded": lambda t: messages.postmortem_uploaded(incident(t), t, 22_007),
    "note_added": lambda t: messages.note_added(incident(t), t, t),
    "recategorized": lambda t: messages.recategorized(incident(t), correction(t)),
    "correction_closed": lambda t: messages.correction_closed(incident(t)),
    "correction_unchanged": lambda t: messages.correction_unchanged(incident(t)),
    "not_this_card": lambda t: messages.not_this_card(),
    "unknown_choice": lambda t: messages.unknown_choice(),
    "home_approval": lambda t: messages.home_approval(incident(t), request(t)),
    "postmortem_upload_failed": lambda t: messages.postmortem_upload_failed(incident(t)),
    "vote_answer": lambda t: "\n".join(messages.vote_answer(s) for s in VoteStatus),
    "request_changed": lambda t: "\n".join(
        messages.request_changed(request(t, state)) for state in ActionState
    ),
    "resolved_note": lambda t: messages.resolved_note(t, t) + messages.resolved_note("U" + t, t),
    "not_allowed_to_resolve": lambda t: messages.not_allowed_to_resolve(incident(t)),
    "verification_note": lambda t: "\n".join(
        messages.verification_note(
            request(t, ActionState.SUCCEEDED).model_copy(update={"verification": verdict}),
            [t, OURS["user"]],
        )
        for verdict in Verification
    ),
    "evidence_comment": lambda t: messages.evidence_comment(t),
    "outcome_unknown": lambda t: messages.outcome_unknown(
        request(t, ActionState.OUTCOME_UNKNOWN).model_copy(update={"claimed_by": t}), [t]
    ),
    "again_answer": lambda t: "\n".join(
        messages.again_answer(s) for s in [*messages.AGAIN_ANSWERS, "filed"]
    ),
    "evidence": lambda t: messages.evidence(request(t, ActionState.SUCCEEDED), t),
    "undo_answer": lambda t: "\n".join(messages.undo_answer(s, t) for s in messages.UNDO_ANSWERS),
    "glass_answer": lambda t: "\n".join(
        messages.glass_answer(s, t) for s in messages.GLASS_ANSWERS
    ),
    "glass_broken": lambda t: messages.glass_broken(
        incident(t),
        request(t).model_copy(
            update={"break_glass": BreakGlass(by=t, at=NOW, justification=t, of_request=t)}
        ),
    ),
    "status_update": lambda t: messages.status_update(incident(t), t, t),
    "update_posted": lambda t: messages.update_posted(incident(t)),
    "severity_changed": lambda t: messages.severity_changed(incident(t), Severity.SEV3, t, t),
    "severity_unchanged": lambda t: messages.severity_unchanged(incident(t)),
    "declare_form_failed": lambda t: messages.declare_form_failed(),
    "update_form_failed": lambda t: messages.update_form_failed(),
    "update_form_empty": lambda t: messages.update_form_empty(),
    "update_form_no_incident": lambda t: messages.update_form_no_incident(bool(t)),
    "update_requested": lambda t: (
        messages.update_requested(incident(t), [OURS["user"], OURS["group"], t], 45)
        + messages.update_requested(incident(t), [], 45)
    ),
    "accuracy_drifted": lambda t: messages.accuracy_drifted(t, 0.65, 20, 0.8),
}
# Kinds that show no value at all (the rest must show a cut marker when the value is huge).
FIXED = {
    "usage",
    "declare_form_failed",
    "update_form_failed",
    "update_form_empty",
    "update_form_no_incident",
    "no_incident_here",
    "no_open_incidents",
    "unknown_request",
    "feedback_thanks",
    "vote_answer",
    "again_answer",
    "not_this_card",
    "unknown_choice",
}


def public_functions(module: Any) -> set[str]:
    return {
        name
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and fn.__module__ == module.__name__
    }


def slack_decode(text: str) -> str:
    """What a Slack client shows for mrkdwn: its three entities decoded once."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def assert_safe_mrkdwn(text: str, where: str) -> None:
    """No control sequence but our own, nothing hidden, no bold or strike injected in prose."""
    leftover = ALLOWED.sub("", text)
    assert "<" not in leftover and ">" not in leftover, f"{where}: raw < or > in {leftover[:300]!r}"
    assert not HIDDEN.search(text), f"{where}: hidden or reordering characters survive"
    prose = CODE.sub("", text)  # inside code spans and blocks Slack shows * and ~ literally
    assert "*bold*" not in prose and "~strike~" not in prose, f"{where}: formatting injected"


def blocks_text_fields(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            yield block["type"], block["text"]
        for element in block.get("elements", []):
            if element.get("type") == "button":
                yield "button", element["text"]
            elif element.get("type") == "static_select":
                yield "placeholder", element["placeholder"]
                for option in element["options"]:
                    yield "option", option["text"]
            elif element.get("type") == "users_select":
                yield "placeholder", element["placeholder"]
            else:
                yield block["type"], element


def test_every_message_kind_has_a_case() -> None:
    assert public_functions(messages) == set(MESSAGE_KINDS), (
        "add a case to MESSAGE_KINDS for every new function in bot.slack.messages"
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", sorted(MESSAGE_KINDS))
def test_message_kind_escapes_and_fits(kind: str, case: str) -> None:
    text = MESSAGE_KINDS[kind](value(case))
    assert_safe_mrkdwn(text, kind)
    joined = {
        "escalation": 2,
        "resolved_note": 2,
        "request_changed": len(ActionState),
        "alert_joined": 2,
    }
    assert size(text) <= LIMITS.message_text * joined.get(kind, 1)
    if case == "huge":
        assert "Z" * 5_000 not in text
        if "ZZZZZ" in text:
            assert "(cut)" in text, f"{kind}: a 100k value was cut without a visible marker"


@pytest.mark.parametrize("kind", sorted(set(MESSAGE_KINDS) - FIXED))
def test_hostile_value_adds_no_backtick(kind: str) -> None:
    """The same value without backticks renders with exactly as many: none came from it."""
    with_ticks = MESSAGE_KINDS[kind](HOSTILE)
    without = MESSAGE_KINDS[kind](HOSTILE.replace("`", "'"))
    assert with_ticks.count("`") == without.count("`"), f"{kind}: a backtick from the value"


def test_our_own_mentions_and_links_still_work() -> None:
    assert messages.mention(OURS["user"]) == "<@U0OURS0001>"
    assert messages.mention(OURS["group"]) == "<!subteam^S0OURS0001>"
    assert "<#C0OURS0001>" in messages.declared_elsewhere(incident("x"), OURS["channel"])
    people = [OURS["user"], OURS["group"]]
    assert "<@U0OURS0001>, <!subteam^S0OURS0001>: nobody has acted" in messages.escalation(
        request("x"), people
    )
    declared = incident("checkout down")
    assert f"*{declared.severity.value}*" in messages.declared(declared, OURS["user"])


def test_typed_text_is_shown_as_typed() -> None:
    typed = "a < b && c > d; &lt; stays &lt; <!channel>"
    shown = slack_decode(messages.note(typed))
    assert shown == typed


@pytest.mark.parametrize("case", CASES)
def test_triage_card_blocks_escape_and_fit(case: str) -> None:
    text = value(case)
    requests = [request(text, ActionState.FAILED)] + [request(text) for _ in range(11)]
    blocks = triage_card(
        incident(text), triage(text), requests, [alert(text)] * 5, make_clean(REDACTOR.redact)
    )
    assert 0 < len(blocks) <= LIMITS.blocks_per_message
    limits = {
        "section": LIMITS.section_text,
        "header": LIMITS.header_text,
        "context": LIMITS.context_text,
        "button": LIMITS.button_text,
        "placeholder": LIMITS.placeholder_text,
        "option": LIMITS.option_text,
    }
    for kind, field in blocks_text_fields(blocks):
        assert size(field["text"]) <= limits[kind], kind
        if field["type"] == "mrkdwn":
            assert_safe_mrkdwn(field["text"], kind)
        else:
            assert not re.search(r"<[!@#]|<https?:", field["text"]), kind
            assert "\n" not in field["text"] and not HIDDEN.search(field["text"])
    for element in (e for b in blocks for e in b.get("elements", [])):
        if element.get("type") == "button":
            assert len(element["value"]) <= LIMITS.button_value
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "2 more proposal(s) (cut)" in shown
    if case == "huge":
        assert "(cut)" in shown.replace("2 more proposal(s) (cut)", "")


@pytest.mark.parametrize("case", CASES)
def test_a_corrected_card_says_who_corrected_it_to_what(case: str) -> None:
    text = value(case)
    hostile = incident(text)
    hostile.correction = correction(text)
    ours = incident(text)
    ours.correction = correction(text).model_copy(update={"by": OURS["user"], "reason": ""})
    for corrected in (hostile, ours):
        blocks = triage_card(corrected, triage(text), [], [], make_clean(REDACTOR.redact))
        shown = next(b for b in blocks if b.get("block_id") == "correction")["text"]["text"]
        assert_safe_mrkdwn(shown, "correction")
        assert shown.startswith(":pencil2: Corrected to *security* (SEV1) by ")
        assert size(shown) <= LIMITS.section_text
        fallback = render_card_text(corrected, triage(text), [], [], REDACTOR)
        assert_safe_mrkdwn(fallback, "card text")
        assert "Corrected to security (SEV1) by " in fallback
    assert shown.endswith(f"by <@{OURS['user']}> at 02:00 UTC (triage said *latency*, SEV3)")
    assert f"Corrected to security (SEV1) by <@{OURS['user']}>\n" in fallback
    plain_card = triage_card(incident(text), triage(text), [], [], make_clean(REDACTOR.redact))
    assert not any(b.get("block_id") == "correction" for b in plain_card)


def test_a_card_never_has_more_than_fifty_blocks() -> None:
    many = [section(f"block {n}") for n in range(60)]
    kept = within_block_limit(many)
    assert len(kept) == LIMITS.blocks_per_message
    assert kept[-1]["type"] == "context" and "11 more block(s) (cut)" in json.dumps(kept[-1])
    assert within_block_limit(many[:50]) == many[:50]


@pytest.mark.parametrize("case", CASES)
def test_card_text_fallback_escapes_and_fits(case: str) -> None:
    text = value(case)
    requests = [request(text) for _ in range(30)]
    fallback = render_card_text(incident(text), triage(text), requests, [alert(text)], REDACTOR)
    assert_safe_mrkdwn(fallback, "card text")
    assert size(fallback) <= LIMITS.message_text
    assert fallback.endswith("[ Helpful ]  [ Not helpful ]")
    if case == "huge":
        assert CUT in fallback


def test_postmortem_values_are_escaped_markdown() -> None:
    text = HOSTILE
    facts = PostmortemFacts(
        incident=incident(text),
        events=[event(text, n) for n in range(3)],
        triages=[triage(text)],
        requests=[request(text), request(text, ActionState.FAILED)],
    )
    review = build_postmortem(facts, NOW, Escaping(value=markdown, code=code))
    assert not re.search(r"<[!@#]|<https?:|<mailto:", review)
    prose = CODE.sub("", review)  # code spans show brackets and stars literally
    assert "](" not in prose.replace("\\](", "") and "*bold*" not in prose
    assert "`code`" not in review and not HIDDEN.search(review)
    for line in review.splitlines():
        if line.startswith("|") and "incident.opened" in line:
            assert len(re.findall(r"(?<!\\)\|", line)) == 5, "a value broke the table"


# markup itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("trick", TRICKS)
def test_each_escaper_defuses_each_trick(trick: str) -> None:
    for escaped in (mrkdwn(trick), code(trick), code(trick, block=True), escape(trick)):
        assert "<" not in escaped and ">" not in escaped
        assert not HIDDEN.search(escaped)
    assert not re.search(r"<[!@#]|<[a-z]+:", plain(trick))
    assert "<" not in markdown(trick) and "[" not in markdown(trick).replace("\\[", "")


def test_pre_escaped_text_is_escaped_again_and_shows_literally() -> None:
    assert mrkdwn("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    assert slack_decode(mrkdwn("&lt;!channel&gt;")) == "&lt;!channel&gt;"


def test_mrkdwn_keeps_identifiers_and_defuses_formatting() -> None:
    assert mrkdwn("restart_deployment on checkout-api") == "restart_deployment on checkout-api"
    assert "*" not in mrkdwn("*bold*") and "~" not in mrkdwn("~x~")
    assert "_" not in mrkdwn("_italic_") and "`" not in mrkdwn("`x`")
    assert code("path=/api/*_x_") == "path=/api/*_x_"  # no formatting inside a code span
    assert "\n" not in code("a\nb") and "\n" in code("a\nb", block=True)


def test_mention_only_for_ids() -> None:
    assert mention("U0ABC123") == "<@U0ABC123>" and mention("W0ABC123") == "<@W0ABC123>"
    assert mention("S0ABC123") == "<!subteam^S0ABC123>"
    for bad in ("U1>|<!channel", "here", "!channel", "u0abc", ""):
        assert "<" not in mention(bad)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("a" * 20, 12, "aaaaa" + CUT),
        ("abc &amp; def", 12, "abc" + CUT),  # never "&am"
        ("abcd&lt;efgh", 11, "abcd" + CUT),
        ("abcd&lt;efghijklmnop", 15, "abcd&lt;" + CUT),  # a whole entity may stay
        ("😀" * 10, 15, "😀" * 4 + CUT),  # counted in UTF-16 units, pairs kept whole
        ("e\u0301" * 10, 10, "e\u0301" + CUT),  # no accent cut from its letter
        ("words   then spaces", 12, "words" + CUT),
    ],
)
def test_fit_cuts_visibly_and_never_inside_a_character_or_entity(
    text: str, limit: int, expected: str
) -> None:
    assert fit(text, limit) == expected
    assert size(fit(text, limit)) <= limit


def test_fit_of_huge_text_is_within_limit_and_marked() -> None:
    for limit in (75, 150, 2_000, 3_000, 4_000, 12_000):
        cut = fit(mrkdwn(HUGE), limit)
        assert size(cut) <= limit and cut.endswith(CUT)
        assert not re.search(r"&[a-z]{0,3}…", cut)


def test_fit_refuses_a_limit_shorter_than_its_marker() -> None:
    with pytest.raises(ValueError, match="shorter than the cut marker"):
        fit("x" * 10, 3)


def test_limits_table_has_slacks_documented_numbers() -> None:
    assert (LIMITS.section_text, LIMITS.header_text, LIMITS.button_text) == (3_000, 150, 75)
    assert (LIMITS.button_value, LIMITS.blocks_per_message) == (2_000, 50)
    assert (LIMITS.message_text, LIMITS.message_text_hard) == (4_000, 40_000)
    assert (LIMITS.markdown_block, LIMITS.modal_title) == (12_000, 24)
    assert (LIMITS.channel_name, LIMITS.channel_topic) == (80, 250)


def test_slack_decode_helper_matches_html_for_our_entities() -> None:
    sample = mrkdwn("a & b < c > d &amp;")
    assert slack_decode(sample) == html.unescape(sample)
