"""actions.yaml's ``verify`` blocks and the read-only ``prometheus_query`` executor kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.actions.plans import bind_plan, render_plan
from bot.errors import PolicyError
from bot.models import Proposal
from bot.policy import load_policy
from bot.policy.documents import ExecutorKind, VerifySpec
from bot.policy.loader import VERIFY_DEFAULT_SECONDS


def _actions(policy_dir: Path, change: Any) -> None:
    path = policy_dir / "actions.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["actions"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _error(policy_dir: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_dir)
    return str(caught.value)


QUERY = {
    "type": "prometheus_query",
    "mode": "live",
    "query": 'sum(rate(http_requests_total{namespace="{namespace}",code=~"5.."}[5m]))',
    "range_seconds": 3600,
    "step_seconds": 30,
}


def test_verify_blocks_load_with_the_default_window(policy_dir: Path) -> None:
    def change(actions: dict[str, Any]) -> None:
        actions["restart_deployment"]["verify"] = {
            "expr": 'errors{deployment="{deployment}"} < 0.02',
            "within_seconds": 300,
        }
        actions["clear_cache"]["verify"] = {"alerts_resolve": True}

    _actions(policy_dir, change)
    policy = load_policy(policy_dir)
    assert policy.actions["restart_deployment"].verify == VerifySpec(
        300.0, expr='errors{deployment="{deployment}"} < 0.02'
    )
    assert policy.actions["clear_cache"].verify == VerifySpec(
        VERIFY_DEFAULT_SECONDS, alerts_resolve=True
    )
    assert policy.actions["scale_deployment"].verify is None


@pytest.mark.parametrize(
    ("verify", "where"),
    [
        ({"within_seconds": 60}, "actions.restart_deployment.verify"),
        ({"expr": "x", "alerts_resolve": True}, "actions.restart_deployment.verify"),
        ({"alerts_resolve": False}, "actions.restart_deployment.verify"),
        ({"expr": "x", "within_seconds": 0}, "within_seconds"),
        ({"expr": 'x{pod="{pod}"} > 1'}, "placeholder {pod} must be a required parameter"),
    ],
)
def test_a_bad_verify_block_fails_closed_naming_its_place(
    policy_dir: Path, verify: dict[str, Any], where: str
) -> None:
    _actions(policy_dir, lambda actions: actions["restart_deployment"].update(verify=verify))
    assert where in _error(policy_dir)


def test_a_prometheus_query_action_renders_a_plan_with_its_query(policy_dir: Path) -> None:
    def change(actions: dict[str, Any]) -> None:
        actions["collect_diagnostics"]["executor"] = QUERY

    _actions(policy_dir, change)
    policy = load_policy(policy_dir)
    spec = policy.actions["collect_diagnostics"]
    assert spec.executor.kind is ExecutorKind.PROMETHEUS_QUERY
    plan = render_plan(
        spec, {"deployment": "checkout-api"}, request_id="r", service="checkout", namespace="shop"
    )
    assert plan.query == 'sum(rate(http_requests_total{namespace="shop",code=~"5.."}[5m]))'
    assert plan.describe()["range_seconds"] == 3600
    proposal = Proposal(
        action="collect_diagnostics", service="checkout", params={"deployment": "checkout-api"}
    )
    binding = bind_plan(policy, proposal)
    assert binding.plan is not None and binding.hash
    assert binding.plan.body["query"] == plan.query
    assert binding.plan.shown().startswith("GET /api/v1/query_range")


def test_a_query_placeholder_must_be_a_required_parameter(policy_dir: Path) -> None:
    query = {**QUERY, "query": 'up{job="{job}"}'}
    _actions(policy_dir, lambda actions: actions["collect_diagnostics"].update(executor=query))
    assert "actions.collect_diagnostics.executor.query" in _error(policy_dir)
