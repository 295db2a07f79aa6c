"""The command line as a new user meets it: help, ingest, triage JSON lines, incidents, timeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli import main

DEMO = Path(__file__).resolve().parents[2] / "bot" / "data" / "demo"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "cli.db"))
    monkeypatch.setenv("RUNBOOK_INDEX_PATH", str(tmp_path / "runbooks.db"))
    monkeypatch.setenv("RUNBOOK_EMBEDDINGS", "none")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "demo", "ingest", "triage", "incidents", "timeline", "policy",
                    "runbooks"):
        assert command in out


def test_triage_prints_one_json_line_per_file_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = [str(DEMO / "2-generic-payment-latency.json"), str(tmp_path / "missing.json"),
             str(DEMO / "3-generic-batch-disk.json")]
    code = main(["triage", *files])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # one unreadable file
    assert len(lines) == 3
    first, missing, third = lines
    assert first["incident"]["service"] == "payment-gateway"
    assert first["triage"]["provider"] == "rules"
    assert first["triage"]["execution_status"] == "COMPLETED"
    assert set(first["triage"]) >= {"category", "severity", "summary", "root_cause",
                                    "confidence", "model", "runbooks", "usage"}
    for proposal in first["proposals"]:
        assert proposal["decision"]["outcome"] in {"deny", "require_approval", "allow"}
        assert proposal["decision"]["reasons"]
    # payment-gateway is critical: nothing it proposes runs without people, except paging
    # its own on-call, which policy allows at SEV0/SEV1 (paging changes nothing in production)
    for proposal in first["proposals"]:
        if proposal["decision"]["outcome"] == "allow":
            assert proposal["action"] == "notify_oncall", proposal
            assert "page.own_oncall" in [r["rule_id"] for r in proposal["decision"]["reasons"]]
    assert missing == {"file": files[1], "error": "cannot read: No such file or directory"}
    assert third["incident"]["service"] == "batch-reports"


def test_triage_exits_zero_when_every_file_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", str(DEMO / "4-generic-auth-suspicious.json")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    report = json.loads(line)
    assert report["triage"]["category"] == "security"
    assert all(p["action"] == "notify_oncall" for p in report["proposals"])


def test_ingest_then_incidents_and_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(DEMO / "1-alertmanager-checkout-5xx.json")]) == 0
    ingested = json.loads(capsys.readouterr().out)
    assert ingested["source"] == "alertmanager" and ingested["accepted"] == 2
    (incident,) = ingested["incidents"]
    assert main(["incidents", "--json", "--status", "open"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["id"] for i in listed] == [incident["id"]]
    assert main(["timeline", incident["id"], "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[0]["kind"] == "incident.opened"
    assert main(["timeline", "inc-doesnotexist"]) == 1


def test_bad_payload_on_ingest_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "4", "alerts": "nope"}')
    assert main(["ingest", "--source", "alertmanager", str(bad)]) == 2
    assert "alerts" in json.loads(capsys.readouterr().err)["error"]


def test_invalid_configuration_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORE_BACKEND", "mongodb")
    assert main(["incidents"]) == 2
    assert "STORE_BACKEND" in capsys.readouterr().err


def test_invariant_5_invalid_policy_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "policies"
    broken = tmp_path / "policies"
    shutil.copytree(shipped, broken)
    (broken / "actions.yaml").write_text(
        (shipped / "actions.yaml").read_text().replace("risk: low", "risk: extreme", 1)
    )
    monkeypatch.setenv("POLICY_DIR", str(broken))
    assert main(["incidents"]) == 1
    err = capsys.readouterr().err
    assert "actions.yaml" in err and "extreme" in err
