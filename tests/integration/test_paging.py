"""The page executor against a loopback PagerDuty / Opsgenie stand-in that checks the
documented request shapes: a plan rendered from the shipped policy pages the right provider,
with one dedup key per incident and service, and never shows its key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.actions.paging import PageExecutor
from bot.actions.plans import bind_plan, render_for
from bot.compose import paging_targets
from bot.models import Proposal
from bot.policy import Policy, load_policy
from bot.policy.documents import PagingProvider
from tests.integration.paging_server import PagingServer

pytestmark = pytest.mark.integration

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
ROUTING_KEY = "R0UT1NGKEY0000000000000000000042"
GENIE_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"


@pytest.fixture
async def server() -> AsyncIterator[PagingServer]:
    stand_in = PagingServer(routing_keys={ROUTING_KEY}, api_keys={GENIE_KEY})
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def policy() -> Policy:
    return load_policy(POLICY_DIR)


def executor(policy: Policy, server: PagingServer) -> PageExecutor:
    keys = {"PAYMENTS": SecretStr(ROUTING_KEY), "IDENTITY": SecretStr(GENIE_KEY)}
    return PageExecutor(
        paging_targets(policy, keys),
        5.0,
        pagerduty_url=f"{server.url}/v2/enqueue",
        opsgenie_url=server.url,
    )


def page_plan(policy: Policy, service: str, incident: str, **params: str) -> object:
    params = {"message": "down", **params}
    proposal = Proposal(action="notify_oncall", service=service, params=params)
    return replace(render_for(policy, proposal, request_id="act-0001"), incident_id=incident)


def test_only_services_with_a_configured_key_become_targets(policy: Policy) -> None:
    targets = paging_targets(policy, {"PAYMENTS": SecretStr(ROUTING_KEY)})
    assert set(targets) == {"payment-gateway"}
    assert targets["payment-gateway"].provider is PagingProvider.PAGERDUTY


async def test_pagerduty_gets_a_valid_trigger_and_repeats_share_the_dedup_key(
    policy: Policy, server: PagingServer
) -> None:
    pager = executor(policy, server)
    plan = page_plan(policy, "payment-gateway", "inc-00aa11bb22", urgency="high")
    first = await pager.run(plan)  # type: ignore[arg-type]
    again = await pager.run(replace(plan, request_id="act-0002"))  # type: ignore[arg-type]
    assert first.ok and again.ok, (first, again, server.requests)
    sent = [r for r in server.requests if r.path == "/v2/enqueue"]
    assert [r.status for r in sent] == [202, 202] and not any(r.errors for r in sent)
    body = sent[0].body
    assert body["event_action"] == "trigger" and body["routing_key"] == ROUTING_KEY
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["component"] == "payment-gateway"
    assert body["dedup_key"] == sent[1].body["dedup_key"] == (
        "incident-bot/inc-00aa11bb22/payment-gateway"
    )
    assert server.open_pages == {body["dedup_key"]: 2}
    assert ROUTING_KEY not in str(first.detail)


async def test_opsgenie_gets_a_valid_alert_with_its_genie_key_and_alias(
    policy: Policy, server: PagingServer
) -> None:
    pager = executor(policy, server)
    report = await pager.run(page_plan(policy, "auth-service", "inc-1234567890"))  # type: ignore[arg-type]
    assert report.ok, (report, server.requests)
    (sent,) = server.requests
    assert sent.path == "/v2/alerts" and sent.headers["Authorization"] == f"GenieKey {GENIE_KEY}"
    assert sent.body["alias"] == "incident-bot/inc-1234567890/auth-service"
    assert sent.body["priority"] == "P2"
    assert sent.body["responders"] == [{"name": "identity-oncall", "type": "team"}]
    assert GENIE_KEY not in str(report.detail)


async def test_another_team_is_paged_on_its_own_key(policy: Policy, server: PagingServer) -> None:
    pager = executor(policy, server)
    plan = page_plan(policy, "checkout", "inc-abcdef0123", team="payment-gateway")
    report = await pager.run(plan)  # type: ignore[arg-type]
    assert report.ok
    assert server.requests[0].body["payload"]["component"] == "payment-gateway"


async def test_a_refused_page_or_a_service_without_paging_fails_with_the_reason(
    policy: Policy, server: PagingServer
) -> None:
    keys = {"PAYMENTS": SecretStr("x" * 32)}
    pager = PageExecutor(
        paging_targets(policy, keys), 5.0, pagerduty_url=f"{server.url}/v2/enqueue"
    )
    refused = await pager.run(page_plan(policy, "payment-gateway", "inc-1"))  # type: ignore[arg-type]
    assert not refused.ok and refused.error == "HTTP 400"
    missing = await pager.run(page_plan(policy, "search-api", "inc-1"))  # type: ignore[arg-type]
    assert not missing.ok and "no paging set up for 'search-api'" in str(missing.error)


def test_the_card_shows_who_is_paged_and_no_key(policy: Policy) -> None:
    proposal = Proposal(action="notify_oncall", service="payment-gateway", params={"message": "hi"})
    binding = bind_plan(policy, proposal)
    assert binding.plan is not None and binding.plan.kind == "page"
    assert binding.plan.body["service"] == "payment-gateway"
    assert "page" in binding.plan.summary


def test_paging_keys_come_from_one_json_setting() -> None:
    from bot.compose import paging_keys
    from bot.errors import ConfigError

    keys = paging_keys(SecretStr('{"PAYMENTS": "abc"}'))
    assert keys["PAYMENTS"].get_secret_value() == "abc"
    assert paging_keys(None) == {}
    with pytest.raises(ConfigError, match="PAGING_KEYS"):
        paging_keys(SecretStr("PAYMENTS=abc"))
