"""Evidence and verification against a real Prometheus, end to end through the running bot.

A loopback exporter serves gauges the test moves; Debian's prometheus scrapes it every second;
`incident-bot serve` queries that Prometheus. Alerts arrive as Alertmanager webhooks whose
generatorURL carries the expression; approvals are signed clicks on the card the Slack
stand-in recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import yaml

from bot.models import ActionRequest, EventKind, Verification
from bot.store.sqlite import SQLiteStore
from tests.integration.prometheus import Exporter, PrometheusServer, running_prometheus
from tests.integration.slack.conftest import scripted_triage
from tests.integration.slack.harness import BotProcess, bot_env
from tests.integration.slack.recorder import Call, SlackRecorder

pytestmark = pytest.mark.integration

APPROVE = "request_approve"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LATENCY = "demo_latency_seconds"
ERRORS = "demo_error_ratio"
# restart_deployment is watched for this long after it succeeds (the short window setting).
VERIFY_SECONDS = 6


def with_verify(policy_dir: Path) -> Path:
    """The test's policy copy: restart_deployment verified by the error ratio of the deployment
    it restarted, toggle_feature_flag by the incident's alerts resolving."""
    path = policy_dir / "actions.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    actions = document["actions"]
    actions["restart_deployment"]["verify"] = {
        "expr": f'{ERRORS}{{deployment="{{deployment}}"}} < 0.5',
        "within_seconds": VERIFY_SECONDS,
    }
    actions["toggle_feature_flag"]["verify"] = {"alerts_resolve": True, "within_seconds": 120}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return policy_dir


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Exporter, PrometheusServer]]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as running:
        yield running


@pytest.fixture(scope="module")
def bot(
    recorder: SlackRecorder,
    prometheus: tuple[Exporter, PrometheusServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    workdir = tmp_path_factory.mktemp("bot")
    env = bot_env(
        workdir,
        recorder.url,
        PROMETHEUS_URL=prometheus[1].url,
        EVIDENCE_LOOKBACK_SECONDS="600",
        VERIFY_INTERVAL_SECONDS="0.5",
    )
    with_verify(Path(env["POLICY_DIR"]))
    process = BotProcess(workdir, env).start()
    yield process
    process.stop()


def graph_url(expr: str) -> str:
    return f"http://prometheus.example:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1"


def alertmanager(marker: str, expr: str, status: str = "firing", **annotations: str) -> Any:
    starts = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    alert = {
        "status": status,
        "labels": {"alertname": marker, "service": "checkout", "severity": "warning"},
        "annotations": {"summary": f"{marker} checkout misbehaves", **annotations},
        "startsAt": starts,
        "endsAt": datetime.now(UTC).isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": graph_url(expr),
        "fingerprint": f"{marker.lower()}0001",
    }
    return {
        "version": "4",
        "groupKey": f"{{}}:{{alertname=\"{marker}\"}}",
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": {"alertname": marker},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [alert],
    }


def stored(bot: BotProcess) -> SQLiteStore:
    return SQLiteStore(Path(bot.env["SQLITE_PATH"]))


def request_of(bot: BotProcess, request_id: str) -> ActionRequest:
    store = stored(bot)
    try:
        return asyncio.run(store.get_action_request(request_id))
    finally:
        asyncio.run(store.close())


def event_kinds(bot: BotProcess, incident_id: str) -> list[EventKind]:
    store = stored(bot)
    try:
        return [e.kind for e in asyncio.run(store.list_events(incident_id))]
    finally:
        asyncio.run(store.close())


def open_card(bot: BotProcess, recorder: SlackRecorder, marker: str, expr: str) -> Call:
    answer = bot.alert("alertmanager", alertmanager(marker, expr))
    assert answer.status == 202, answer.body
    return recorder.wait_for(
        "chat.postMessage",
        lambda c: marker in json.dumps(c.args) and bool(c.args.get("blocks")) and c.ok,
        timeout=30,
    )[0]


def approve_first(bot: BotProcess, card: Call, action: str, user: str = "U0CHKDEV01") -> str:
    """Click Approve on the card's first ``action`` request; its request id."""
    for block in card.args["blocks"]:
        if block["type"] != "actions":
            continue
        for element in block["elements"]:
            if element["action_id"] == APPROVE and action in json.dumps(card.args):
                answer = bot.click(
                    APPROVE,
                    element["value"],
                    user,
                    message_ts=card.answer["ts"],
                    block_id=block.get("block_id", "b"),
                )
                assert answer.status == 200
                return str(element["value"]).split(":")[0].split("|")[0]
    raise AssertionError(f"no Approve button for {action}")


def wait_verdict(bot: BotProcess, request_id: str, timeout: float = 40.0) -> ActionRequest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = request_of(bot, request_id)
        if request.verification is not None:
            return request
        time.sleep(0.2)
    raise AssertionError(f"no verdict on {request_id}: {request_of(bot, request_id)}")


def test_an_alerts_series_is_charted_in_the_thread_and_summarised_for_the_triage(
    bot: BotProcess, recorder: SlackRecorder, prometheus: tuple[Exporter, PrometheusServer]
) -> None:
    exporter, server = prometheus
    recorder.triages["PROM-CHART"] = scripted_triage("checkout", [])
    selector = f'{LATENCY}{{route="cart"}}'
    for value in (0.25, 1.75, 0.5):
        exporter.set(LATENCY, "route", "cart", value)
        server.wait_until(selector, lambda s, v=value: bool(s) and s[-1][1] == v)
    card = open_card(bot, recorder, "PROM-CHART", f"{selector} > 1.2")
    shared = recorder.wait_for(
        "files.completeUploadExternal", lambda c: "PROM-CHART" in json.dumps(c.args), timeout=30
    )[0]
    file_id = json.loads(shared.args["files"])[0]["id"]
    upload = recorder.uploads[file_id]
    assert upload.content.startswith(PNG_MAGIC) and upload.filename.endswith(".png")
    assert upload.shared and upload.channel == card.args["channel"]
    assert upload.thread_ts == card.answer["ts"]  # in the card's thread
    served = exporter.served[(LATENCY, "route", "cart")]
    numbers = f"min {min(served):.4g} / max {max(served):.4g} / now {served[-1]:.4g}"
    assert numbers in shared.args["initial_comment"]
    assert "threshold 1.2" in shared.args["initial_comment"]  # parsed from `expr > 1.2`
    prompt = recorder.wait_for("llm", lambda c: "PROM-CHART" in c.args["prompt"])[0]
    assert numbers in prompt.args["prompt"]


def test_a_fix_is_verified_once_the_series_falls_below_the_threshold(
    bot: BotProcess, recorder: SlackRecorder, prometheus: tuple[Exporter, PrometheusServer]
) -> None:
    exporter, server = prometheus
    restart = ("restart_deployment", {"deployment": "checkout-api"})
    recorder.triages["PROM-FIXED"] = scripted_triage("checkout", [restart])
    exporter.set(ERRORS, "deployment", "checkout-api", 0.9)
    server.wait_until(f'{ERRORS}{{deployment="checkout-api"}}', lambda s: bool(s))
    card = open_card(bot, recorder, "PROM-FIXED", f'{ERRORS}{{deployment="checkout-api"}} > 0.5')
    request_id = approve_first(bot, card, "restart_deployment")
    exporter.set(ERRORS, "deployment", "checkout-api", 0.1)
    request = wait_verdict(bot, request_id)
    assert request.verification is Verification.VERIFIED
    assert request.verify_until is not None
    kinds = event_kinds(bot, request.incident_id)
    assert EventKind.ACTION_VERIFYING in kinds and EventKind.ACTION_VERIFIED in kinds
    said = recorder.wait_for("chat.postMessage", lambda c: "*verified*" in c.args.get("text", ""))
    assert "restart_deployment" in said[0].args["text"]
    assert said[0].args.get("thread_ts") == card.answer["ts"]


def test_a_fix_that_does_not_hold_is_not_verified_retriaged_and_the_commander_pinged(
    bot: BotProcess, recorder: SlackRecorder, prometheus: tuple[Exporter, PrometheusServer]
) -> None:
    exporter, server = prometheus
    restart = ("restart_deployment", {"deployment": "checkout-api-canary"})
    recorder.triages["PROM-STUCK"] = scripted_triage("checkout", [restart])
    exporter.set(ERRORS, "deployment", "checkout-api-canary", 0.9)
    server.wait_until(f'{ERRORS}{{deployment="checkout-api-canary"}}', lambda s: bool(s))
    card = open_card(
        bot, recorder, "PROM-STUCK", f'{ERRORS}{{deployment="checkout-api-canary"}} > 0.5'
    )
    request_id = approve_first(bot, card, "restart_deployment")
    request = wait_verdict(bot, request_id)
    assert request.verification is Verification.NOT_VERIFIED
    assert EventKind.ACTION_NOT_VERIFIED in event_kinds(bot, request.incident_id)
    recorder.wait_for(
        "chat.postMessage",
        # checkout's on-call commander leads the alert's incident; nobody pings the channel.
        lambda c: "*not verified*" in c.args.get("text", "") and "<@U0CHKONCALL>" in c.args["text"],
    )
    assert not recorder.find("chat.postMessage", lambda c: "<!here>" in c.args.get("text", ""))
    # Re-triaged with what the check saw among the evidence.
    recorder.wait_for(
        "llm",
        lambda c: "PROM-STUCK" in c.args["prompt"] and "did not hold" in c.args["prompt"],
        timeout=20,
    )


def test_a_fix_is_verified_when_the_incidents_alerts_resolve(
    bot: BotProcess, recorder: SlackRecorder, prometheus: tuple[Exporter, PrometheusServer]
) -> None:
    recorder.triages["PROM-RESOLVE"] = scripted_triage(
        "checkout", [("toggle_feature_flag", {"flag": "new-cart", "enabled": False})]
    )
    expr = f'{LATENCY}{{route="cart"}} > 5'
    card = open_card(bot, recorder, "PROM-RESOLVE", expr)
    request_id = approve_first(bot, card, "toggle_feature_flag")
    deadline = time.monotonic() + 20
    while request_of(bot, request_id).verify_until is None:
        assert time.monotonic() < deadline, "verification window never opened"
        time.sleep(0.2)
    time.sleep(1.5)  # a few sweeps while the alert still fires: no verdict yet
    assert request_of(bot, request_id).verification is None
    resolved = bot.alert("alertmanager", alertmanager("PROM-RESOLVE", expr, status="resolved"))
    assert resolved.status == 202, resolved.body
    request = wait_verdict(bot, request_id)
    assert request.verification is Verification.VERIFIED
