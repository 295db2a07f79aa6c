"""Fixtures: a loopback Slack (and model) recorder, and a running `incident-bot serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import SlackRecorder

# policies/services.yaml: checkout is standard (restart needs 1 approval from S0CHECKOUT or
# U0CHKLEAD1); auth-service is critical (2 approvals from S0IDENTITY or U0IDLEAD01).
GROUPS = {
    "S0CHECKOUT": ["U0CHKDEV01", "U0CHKDEV02"],
    "S0IDENTITY": ["U0IDSRE001", "U0IDSRE002"],
}


def scripted_triage(
    service: str, proposals: list[tuple[str, dict[str, Any]]], category: str = "error_rate"
) -> dict[str, Any]:
    """A schema-valid model reply proposing ``proposals`` on ``service``."""
    return {
        "category": category,
        "severity": "SEV2",
        "summary": f"{service} is failing requests; db password=hunter2secret seen in logs",
        "root_cause": "A bad pod keeps serving 5xx.",
        "reasoning": "scripted for the test",
        "confidence": 0.9,
        "runbook_ids": [],
        "proposals": [
            {
                "action": action,
                "service": service,
                "params": [{"name": k, "value": v} for k, v in params.items()],
                "rationale": f"scripted {action}",
            }
            for action, params in proposals
        ],
    }


def script_default_triages(recorder: SlackRecorder) -> None:
    recorder.groups.update(GROUPS)
    restart_checkout = ("restart_deployment", {"deployment": "checkout-api"})
    failover = ("failover_region", {"from_region": "eastus", "to_region": "westus2"})
    recorder.triages.update(
        {
            "CHK-APPROVE": scripted_triage("checkout", [restart_checkout, failover]),
            "CHK-DENY": scripted_triage("checkout", [restart_checkout]),
            "CHK-SELF": scripted_triage("checkout", [restart_checkout]),
            "CHK-EXPIRE": scripted_triage("checkout", [restart_checkout]),
            "CHK-CHANNEL": scripted_triage("checkout", [restart_checkout]),
            "AUTH-TWO": scripted_triage(
                "auth-service", [("restart_deployment", {"deployment": "auth-api"})]
            ),
        }
    )


@pytest.fixture(scope="module")
def recorder() -> Iterator[SlackRecorder]:
    rec = SlackRecorder().start()
    script_default_triages(rec)
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def bot(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    workdir: Path = tmp_path_factory.mktemp("bot")
    process = BotProcess(workdir, bot_env(workdir, recorder.url)).start()
    yield process
    process.stop()
