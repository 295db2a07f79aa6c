"""`incident-bot report accuracy` on a SQLite store the CLI filled, after a correction."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import utcnow
from bot.compose import Root
from bot.models import Category, EventKind, Severity

DEMO = Path(__file__).resolve().parents[2] / "bot" / "data" / "demo"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "cli.db"))
    monkeypatch.setenv("RUNBOOK_INDEX_PATH", str(tmp_path / "runbooks.db"))
    monkeypatch.setenv("RUNBOOK_EMBEDDINGS", "none")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")


def _triaged(capsys: pytest.CaptureFixture[str], name: str) -> dict[str, str]:
    assert main(["triage", str(DEMO / name)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    return {"id": result["incident"]["id"], "category": result["triage"]["category"]}


def test_a_correction_scores_the_triage_and_survives_a_retriage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    disk = _triaged(capsys, "3-generic-batch-disk.json")
    latency = _triaged(capsys, "2-generic-payment-latency.json")
    assert disk["category"] == "resource_exhaustion"

    async def correct_then_retriage() -> None:
        runtime = Root().runtime()
        try:
            pipeline = runtime.pipeline
            await pipeline.recategorize(
                disk["id"],
                Category.SECURITY,
                "U_ALICE",
                utcnow(),
                severity=Severity.SEV1,
                reason="someone filled the disk on purpose",
            )
            await pipeline.feedback(
                latency["id"],
                (await runtime.store.list_triages(latency["id"]))[0].id,
                "U_BOB",
                True,
                utcnow(),
            )
            await pipeline.triage_incident(disk["id"], utcnow(), force=True)
            incident = await runtime.store.get_incident(disk["id"])
            assert (incident.category, incident.severity) == (Category.SECURITY, Severity.SEV1)
            assert incident.correction is not None and incident.correction.by == "U_ALICE"
            kinds = [e.kind for e in await runtime.store.list_events(disk["id"])]
            assert EventKind.TRIAGE_CORRECTED in kinds
            assert kinds.index(EventKind.TRIAGE_CORRECTED) < len(kinds) - 1  # re-triaged after
        finally:
            await runtime.store.close()

    asyncio.run(correct_then_retriage())
    assert main(["report", "accuracy", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (rules,) = report["providers"]
    assert (rules["provider"], rules["judged"], rules["correct"]) == ("rules", 2, 1)
    assert rules["accuracy"] == 0.5
    assert rules["categories"]["security"] == {"precision": None, "recall": 0.0, "support": 1}
    assert rules["categories"]["resource_exhaustion"]["precision"] == 0.0
    assert {"truth": "security", "triaged": "resource_exhaustion", "count": 1} in rules["confusion"]
    assert set(report["outcomes"]) >= {"approved", "denied", "expired", "cancelled", "verified"}

    assert main(["report", "accuracy", "--since", "1d"]) == 0
    text = capsys.readouterr().out
    assert "rules (prompt" in text and "1/2 right (accuracy 0.50)" in text
    assert "confusion" in text
