"""`incident-bot audit verify | export` on a store the CLI filled: chains, bundles, tampering."""

from __future__ import annotations

import json
import sqlite3
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


@pytest.fixture
def incident_id(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["triage", str(DEMO / "2-generic-payment-latency.json")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return str(json.loads(line)["incident"]["id"])


def test_verify_passes_on_what_the_bot_wrote(
    incident_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"OK      {incident_id}:" in out and "1 incidents checked, 0 broken" in out


def test_export_then_verify_the_bundle_offline(
    incident_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle_path = tmp_path / "evidence" / "bundle.json"
    assert main(["audit", "export", incident_id, "--out", str(bundle_path)]) == 0
    bundle = json.loads(bundle_path.read_text())
    assert bundle["incident"]["id"] == incident_id and bundle["alerts"]
    (triage,) = bundle["triages"]
    assert {"raw_responses", "prompt_version", "prompt_hash", "model"} <= set(triage)
    decisions = bundle["decisions"]
    assert decisions and all(d["decision"]["policy_revision"] for d in decisions)
    assert all(e["hash"] for e in bundle["events"])
    assert bundle["chain"]["head"] == bundle["events"][-1]["hash"]
    filed = [e for e in bundle["events"] if "decision_id" in e["data"]]
    assert {e["data"]["outcome"] for e in filed} <= {"deny", "require_approval", "allow"}
    assert all(e["data"]["rules"] and e["data"]["policy_revision"] for e in filed)
    capsys.readouterr()
    assert main(["audit", "verify", "--bundle", str(bundle_path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_bundle_edited_by_hand_fails_at_the_edited_link(
    incident_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle_path = tmp_path / "bundle.json"
    assert main(["audit", "export", incident_id, "--out", str(bundle_path)]) == 0
    bundle = json.loads(bundle_path.read_text())
    edited = bundle["events"][1]
    edited["message"] = "approved by the CEO"
    bundle_path.write_text(json.dumps(bundle))
    capsys.readouterr()
    assert main(["audit", "verify", "--bundle", str(bundle_path)]) == 1
    out = capsys.readouterr().out
    assert f"BROKEN  incident {incident_id} seq {edited['seq']} ({edited['id']}): hash:" in out


def test_a_tampered_row_in_the_store_is_named(
    incident_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(tmp_path / "cli.db") as db:
        seq = db.execute("SELECT max(seq) FROM events WHERE incident_id = ?",
                         (incident_id,)).fetchone()[0]
        db.execute("UPDATE events SET doc = json_set(doc, '$.actor', 'someone-else') WHERE seq = ?",
                   (seq,))
    capsys.readouterr()
    assert main(["audit", "verify", incident_id, "--json"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    report = json.loads(line)
    assert report["ok"] is False
    assert report["broken"]["seq"] == seq and report["broken"]["what"] == "hash"
