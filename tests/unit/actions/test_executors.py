"""Executors for real: subprocesses without a shell, HTTP against a loopback server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from jsonschema_rs import Draft202012Validator
from pydantic import SecretStr

from bot.actions import render_plan
from bot.actions.executors import (
    REQUEST_ID_ENV,
    CommandExecutor,
    DryRunExecutor,
    HttpExecutor,
    command_env,
)
from bot.actions.outputs import SUMMARY_OUTPUT_CHARS, result_in_words
from bot.actions.plans import ExecutionPlan
from bot.errors import ActionError
from bot.models import (
    ActionRequest,
    ActionState,
    Decision,
    DecisionOutcome,
    Proposal,
)
from bot.policy.documents import ActionSpec, ExecutorKind, ExecutorSpec, Risk, RunMode
from bot.ports import RunReport

NOW_FOR_WORDS = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _spec(executor: ExecutorSpec) -> ActionSpec:
    return ActionSpec(
        name="probe",
        description="d",
        risk=Risk.LOW,
        read_only=True,
        auto=False,
        executor=executor,
        params_schema={},
        validator=Draft202012Validator({}),
    )


def _command(*argv: str, timeout: float | None = None) -> ActionSpec:
    return _spec(
        ExecutorSpec(
            kind=ExecutorKind.COMMAND, mode=RunMode.LIVE, argv=argv, timeout_seconds=timeout
        )
    )


def _render(spec: ActionSpec, **params: Any) -> ExecutionPlan:
    return render_plan(spec, params, request_id="act-1", service="cart-service", namespace="shop")


@pytest.mark.parametrize(
    "hostile",
    [
        "$(touch {marker})",
        "`touch {marker}`",
        "; touch {marker}",
        "a && touch {marker}",
        "| touch {marker}",
        '\'"; touch {marker}; echo "',
    ],
)
async def test_invariant_2_command_parameters_are_never_shell_interpreted(
    tmp_path: Path, hostile: str
) -> None:
    marker = tmp_path / "pwned"
    value = hostile.format(marker=marker)
    plan = _render(_command("echo", "deployment", "{deployment}"), deployment=value)
    result = await CommandExecutor(default_timeout=5).run(plan)
    assert result.ok and result.detail["stdout"] == f"deployment {value}\n"
    assert plan.argv == ("echo", "deployment", value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [("--all", "may not start with '-'"), ("-n", "may not start with '-'"),
     ("cart\nrm -rf /", "control characters"), ("cart\x00api", "control characters"),
     ("", "empty"), ("x" * 600, "longer than"), ({"a": 1}, "cannot be an argument"),
     (["a", "b"], "cannot be an argument"), (-3, "may not start with '-'")],
)  # fmt: skip
def test_invariant_2_command_refuses_arguments_a_program_could_misread(
    value: Any, message: str
) -> None:
    with pytest.raises(ActionError, match=message):
        _render(_command("echo", "{deployment}"), deployment=value)


@pytest.mark.parametrize("program", ["sh", "/bin/bash", "env", "/usr/bin/python3", "BusyBox"])
def test_invariant_2_command_never_starts_an_interpreter(program: str) -> None:
    with pytest.raises(ActionError, match="interpreter"):
        _render(_command(program, "-c", "{cmd}"), cmd="id")


async def test_invariant_2_command_executor_refuses_a_plan_outside_its_template(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    base = _render(_command("echo", "{deployment}"), deployment="cart-api")
    forged = [
        ExecutionPlan(**{**base.__dict__, "argv": ("touch", str(marker))}),
        ExecutionPlan(**{**base.__dict__, "argv": ("echo", "cart-api", "extra")}),
        ExecutionPlan(
            **{
                **base.__dict__,
                "argv": ("sh", "-c", f"touch {marker}"),
                "template": ("sh", "-c", "{x}"),
            }
        ),
        ExecutionPlan(**{**base.__dict__, "argv": ("echo", "--version")}),
    ]
    for plan in forged:
        with pytest.raises(ActionError):
            await CommandExecutor(default_timeout=5).run(plan)
    assert not marker.exists()


async def test_command_failure_and_timeout_are_reported() -> None:
    failed = await CommandExecutor(default_timeout=5).run(_render(_command("false")))
    assert not failed.ok and failed.detail["exit_code"] == 1 and failed.error == "exit code 1"
    slow = _render(_command("sleep", "{seconds}", timeout=0.2), seconds=5)
    timed_out = await CommandExecutor(default_timeout=5).run(slow)
    assert not timed_out.ok and timed_out.error == "timed out after 0.2s"


def test_command_env_is_minimal_and_carries_the_request_id() -> None:
    parent = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "SLACK_BOT_TOKEN": "xoxb-1", "HOME": "/h"}
    assert command_env("act-1", parent) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "HOME": "/h",
        REQUEST_ID_ENV: "act-1",
    }
    assert command_env("act-2", {})["PATH"]  # a default PATH, so bare program names resolve


async def test_command_gets_its_idempotency_key_and_none_of_the_bots_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-never-passed-on")
    result = await CommandExecutor(default_timeout=5).run(_render(_command("printenv")))
    assert result.ok
    shown = dict(line.split("=", 1) for line in result.detail["stdout"].splitlines())
    assert shown[REQUEST_ID_ENV] == "act-1"
    assert "SLACK_BOT_TOKEN" not in shown
    assert set(shown) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", REQUEST_ID_ENV}


def test_placeholders_only_replace_whole_values() -> None:
    spec = _command("echo", "deployment/{deployment}", "{deployment}")
    plan = _render(spec, deployment="cart-api")
    assert plan.argv == ("echo", "deployment/{deployment}", "cart-api")


async def test_dry_run_records_exactly_what_would_run() -> None:
    plan = _render(
        _command(
            "kubectl",
            "--namespace",
            "{namespace}",
            "rollout",
            "restart",
            "deployment",
            "{deployment}",
        ),
        deployment="cart-api",
    )
    result = await DryRunExecutor().run(plan)
    assert result.ok and result.detail == {
        "dry_run": True,
        "would_run": {
            "executor": "command",
            "argv": [
                "kubectl",
                "--namespace",
                "shop",
                "rollout",
                "restart",
                "deployment",
                "cart-api",
            ],
        },
    }


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        received.append(
            {"path": request.path, "headers": dict(request.headers), "body": await request.json()}
        )
        status = 500 if request.path == "/fail" else 202
        return web.json_response({"accepted": status == 202}, status=status)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/jobs", record)
    app.router.add_post("/fail", record)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", received
    await runner.cleanup()


def _http(url: str, timeout: float | None = None) -> ActionSpec:
    body = {
        "service": "{service}",
        "deployment": "{deployment}",
        "replicas": "{replicas}",
        "note": "{absent}",
        "source": "incident-bot",
    }
    return _spec(
        ExecutorSpec(
            kind=ExecutorKind.HTTP, mode=RunMode.LIVE, url=url, body=body, timeout_seconds=timeout
        )
    )


async def test_http_executor_posts_typed_json_with_bearer_token(
    endpoint: tuple[str, list[dict[str, Any]]],
) -> None:
    base, received = endpoint
    plan = _render(_http(f"{base}/jobs"), deployment="cart-api", replicas=4)
    result = await HttpExecutor(SecretStr("s3cret"), default_timeout=5).run(plan)
    assert result.ok and result.detail["status"] == 202
    assert json.loads(result.detail["response"]) == {"accepted": True}
    [call] = received
    assert call["body"] == {
        "service": "cart-service",
        "deployment": "cart-api",
        "replicas": 4,
        "source": "incident-bot",
    }
    assert call["headers"]["Authorization"] == "Bearer s3cret"
    assert call["headers"]["X-Incident-Bot-Request"] == "act-1"
    assert call["headers"]["Idempotency-Key"] == "act-1"


async def test_http_executor_reports_errors_and_timeouts(
    endpoint: tuple[str, list[dict[str, Any]]],
) -> None:
    base, _ = endpoint
    executor = HttpExecutor(None, default_timeout=5)
    failed = await executor.run(_render(_http(f"{base}/fail"), deployment="d", replicas=1))
    assert not failed.ok and failed.error == "HTTP 500"
    slow = await executor.run(
        _render(_http(f"{base}/slow", timeout=0.3), deployment="d", replicas=1)
    )
    assert not slow.ok and slow.error and "request failed" in slow.error
    closed = await executor.run(_render(_http("http://127.0.0.1:9/x"), deployment="d", replicas=1))
    assert not closed.ok and closed.error and "request failed" in closed.error


def _ran(report: RunReport) -> ActionRequest:
    """A request as execute() stores it after ``report``."""
    return ActionRequest(
        incident_id="inc-1",
        proposal=Proposal(action="probe", service="cart-service"),
        decision=Decision(
            action="probe", service="cart-service", outcome=DecisionOutcome.ALLOW,
            approvals_required=0,
        ),
        state=ActionState.SUCCEEDED if report.ok else ActionState.FAILED,
        requested_by="incident-bot",
        created_at=NOW_FOR_WORDS,
        updated_at=NOW_FOR_WORDS,
        result=report.detail,
        error=report.error,
    )


async def test_results_in_words_for_each_executor(
    endpoint: tuple[str, list[dict[str, Any]]],
) -> None:
    """The card and the review say what ran in words, from what each executor reports."""
    dry = await DryRunExecutor().run(_render(_command("kubectl", "get", "pods")))
    assert result_in_words(_ran(dry)) == "dry run: recorded, nothing ran"

    said = await CommandExecutor(default_timeout=5).run(
        _render(_command("printf", "first\\n\\nrollout complete\\n"))
    )
    assert result_in_words(_ran(said)) == "exit code 0: rollout complete"
    failed = await CommandExecutor(default_timeout=5).run(_render(_command("false")))
    assert result_in_words(_ran(failed)) == "exit code 1"

    base, _ = endpoint
    posted = await HttpExecutor(None, default_timeout=5).run(
        _render(_http(f"{base}/jobs"), deployment="cart-api", replicas=4)
    )
    assert result_in_words(_ran(posted)) == f'HTTP 202 from {base}/jobs: {{"accepted": true}}'
    refused = await HttpExecutor(None, default_timeout=5).run(
        _render(_http(f"{base}/fail"), deployment="cart-api", replicas=4)
    )
    assert result_in_words(_ran(refused)) == "HTTP 500"

    long_line = await CommandExecutor(default_timeout=5).run(
        _render(_command("printf", "x" * 400))
    )
    words = result_in_words(_ran(long_line))
    assert words.startswith("exit code 0: xxx") and words.endswith("…")
    assert len(words) == len("exit code 0: ") + SUMMARY_OUTPUT_CHARS

    # the page executor's report (its wire is tested against the paging stand-in)
    paged = RunReport(ok=True, detail={"service": "checkout", "dedup_key": "k1", "status": 202})
    assert result_in_words(_ran(paged)) == "paged checkout's on-call (HTTP 202, dedup key k1)"
