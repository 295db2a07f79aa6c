"""``incident-bot eval triage`` against the loopback chat server: exact figures from a script."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.integration.llm_server import LLMServer, Reply

pytestmark = pytest.mark.integration

PRICED_MODEL = "gpt-4o-mini-2024-07-18"  # 0.15 / 0.60 USD per million tokens in prices.yaml


def labelled(title: str, description: str, category: str, severity: str) -> str:
    alert = {
        "title": title,
        "description": description,
        "service": "checkout",
        "severity": "warning",
        "labels": {"source": "test"},
    }
    return json.dumps({"alert": alert, "expected": {"category": category, "severity": severity}})


def answer(category: str, severity: str) -> Reply:
    body = {
        "category": category,
        "severity": severity,
        "summary": f"{category} on checkout",
        "root_cause": "scripted",
        "reasoning": "scripted",
        "confidence": 0.6,
        "runbook_ids": [],
        "proposals": [],
    }
    return Reply(content=json.dumps(body), model=PRICED_MODEL)


def invalid() -> Reply:
    return Reply(content="Sure! I think it is probably the database.", model=PRICED_MODEL)


@pytest.fixture
async def server() -> AsyncIterator[LLMServer]:
    llm = LLMServer()
    await llm.start()
    yield llm
    await llm.stop()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "mine.jsonl"
    lines = [
        "# a team's own alerts, in the documented format",
        labelled("Errors since release v4.2.0", "5xx after the rollout", "deployment", "SEV2"),
        labelled("Checkout p99 3s", "slow checkout", "latency", "SEV2"),
        labelled(
            "Terminal shell in container",
            "a shell was spawned in container checkout-1 with an attached terminal",
            "security",
            "SEV1",
        ),
        labelled(
            "Cannot reach payments", "connection refused to payments:443", "connectivity", "SEV1"
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_eval_triage_scores_a_scripted_model_exactly(
    server: LLMServer,
    dataset: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVAL_TEST_KEY", "sk-eval")
    monkeypatch.setenv("TRIAGE_VALIDATION_RETRIES", "2")
    server.script(
        answer("deployment", "SEV2"),  # right, first reply valid
        answer("error_rate", "SEV0"),  # wrong category, severity two levels off
        invalid(),
        invalid(),
        invalid(),  # never valid: the rules engine's fallback (security)
        invalid(),
        answer("connectivity", "SEV1"),  # right after one correction
    )
    argv = [
        "eval",
        "triage",
        "--provider",
        "openai",
        "--base-url",
        f"{server.url}/v1",
        "--model",
        "my-model",
        "--api-key-env",
        "EVAL_TEST_KEY",
        str(dataset),
        "--json",
    ]

    code = await asyncio.to_thread(main, argv)

    assert code == 0
    figures: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert figures["triager"] == "openai:my-model"
    assert figures["alerts"] == 4
    assert figures["category_accuracy"] == 0.75
    assert figures["severity_within_one"] == 0.75
    assert figures["model_replies"] == 7
    assert figures["schema_valid_rate"] == round(3 / 7, 4)
    assert figures["fallbacks"] == 1 and figures["fallback_rate"] == 0.25
    assert figures["prompt_tokens"] == 700 and figures["completion_tokens"] == 350
    assert figures["total_tokens"] == 1050
    assert figures["cost_usd"] == pytest.approx((700 * 0.15 + 350 * 0.60) / 1_000_000)
    assert figures["confusion"]["latency"]["error_rate"] == 1
    assert figures["confusion"]["security"]["security"] == 1
    assert figures["category_recall"]["latency"] == 0.0
    assert figures["category_recall"]["unknown"] is None
    # Every request went to the chosen endpoint and model, with the key from the named variable.
    assert len(server.requests) == 7
    assert {r.body["model"] for r in server.requests} == {"my-model"}
    assert {r.headers.get("authorization") for r in server.requests} == {"Bearer sk-eval"}


async def test_eval_triage_prints_a_readable_report_for_the_rules_engine(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main, ["eval", "triage", "--provider", "rules", str(dataset)])

    out = capsys.readouterr().out
    assert code == 0
    assert "triager: rules; labelled alerts: 4" in out
    assert "schema-valid replies 100.0% of 0" in out
    assert "confusion matrix (rules; rows expected, columns predicted)" in out


async def test_eval_triage_names_the_bad_line_of_a_malformed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(labelled("a", "b", "latency", "SEV2") + "\n" + '{"alert": {}}\n')

    code = await asyncio.to_thread(main, ["eval", "triage", "--provider", "rules", str(path)])

    assert code == 1
    assert f"{path}:2: not a labelled alert" in capsys.readouterr().err


async def test_eval_triage_refuses_a_key_variable_that_is_not_set(
    dataset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    argv = [
        "eval",
        "triage",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--api-key-env",
        "NO_SUCH_KEY_VAR",
        str(dataset),
    ]

    code = await asyncio.to_thread(main, argv)

    assert code == 2
    assert "NO_SUCH_KEY_VAR is not set" in capsys.readouterr().err
